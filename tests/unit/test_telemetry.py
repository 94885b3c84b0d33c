"""Telemetry: one planning event's spans form one trace across the queue (and a Graph notification's, up to the
booking system's webhook); the metrics carry the names and attributes of docs/telemetry-names.md."""

from __future__ import annotations

import asyncio
import contextvars
import json
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.adapters.graph.pacing import MailboxPacer
from shared.adapters.graph.session import MailboxConcurrencyLimiter
from shared.adapters.telemetry import COUNTERS, GAUGES, HISTOGRAMS
from shared.app.messaging import PLANNING_QUEUE, Delivery, OutboundMessage
from shared.app.planning.ingest import ingest_planning_events
from shared.app.planning.sync import sync_planning_message
from shared.config import Settings
from shared.domain.mailbox_bucket import mailbox_bucket
from shared.errors import ConfigurationError, Throttled
from tests.fakes.telemetry import RecordedTelemetry
from tests.support.builders import SOURCE, FakeWorld, cloud_event, task_data
from tests.unit.rooms.fakes_rooms import ROOM, RoomWorld
from tests.unit.rooms.helpers import (
    notification,
    notify,
    register,
    run_graph_queue,
    run_outbound_queue,
    subscription_of,
)

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "telemetry-names.md"
KINDS = {"counter": COUNTERS, "histogram": HISTOGRAMS, "gauge": GAUGES}


@pytest.fixture
def recorded() -> RecordedTelemetry:
    return RecordedTelemetry()


def delivered(message: OutboundMessage, world: FakeWorld | RoomWorld) -> Delivery:
    """What the trigger makes of the message (the queue took it 2 s ago)."""
    return Delivery(message.message_id, 1, message.session_id, message.application_properties,
                    enqueued_at=world.now - timedelta(seconds=2))


async def in_fresh_context(coroutine: Any) -> Any:
    """Run as another invocation would: no span of the sender is current, only the message carries it."""
    return await asyncio.create_task(coroutine, context=contextvars.Context())


async def accept_and_sync(world: FakeWorld, recorded: RecordedTelemetry, event: dict[str, Any]) -> str:
    services = world.services(telemetry=recorded.telemetry)
    reply = await ingest_planning_events(json.dumps(event).encode(), "application/cloudevents+json",
                                         services.ingest())
    assert reply.status == 202
    [(queue, message)] = world.queue.sent
    world.queue.sent.clear()
    return str(await in_fresh_context(sync_planning_message(message.body, delivered(message, world),
                                                            services.sync())))


class TestTheMetricNames:
    def test_the_instruments_are_those_of_the_document_with_their_kinds(self) -> None:
        rows = re.findall(r"^\| (connector\.[a-z_.]+) \| (\w+) \|", DOCUMENT.read_text(), re.MULTILINE)
        assert rows
        assert {name: kind for name, kind in rows} == {name: kind for kind, names in KINDS.items() for name in names}


class TestOnePlanningEventIsOneTrace:
    async def test_accept_processing_and_mapping_write_share_a_trace_and_form_a_chain(
            self, recorded: RecordedTelemetry) -> None:
        world = FakeWorld()
        outcome = await accept_and_sync(world, recorded, cloud_event("task.planned", "task/1", task_data()))
        assert outcome == "create"
        accept, process, write = (recorded.span(n) for n in ("accept planning events", "process planning-events",
                                                              "write mapping"))
        assert {s.context.trace_id for s in (accept, process, write)} == {accept.context.trace_id}
        assert accept.parent is None
        assert process.parent is not None and process.parent.span_id == accept.context.span_id
        assert write.parent is not None and write.parent.span_id == process.context.span_id
        assert process.attributes is not None and process.attributes["connector.outcome"] == "create"

    async def test_the_message_carries_the_w3c_trace_context_of_the_accept_span(
            self, recorded: RecordedTelemetry) -> None:
        world = FakeWorld()
        deps = world.services(telemetry=recorded.telemetry).ingest()
        await ingest_planning_events(json.dumps(cloud_event("task.planned", "task/2", task_data())).encode(),
                                     "application/cloudevents+json", deps)
        [(_, message)] = world.queue.sent
        accept = recorded.span("accept planning events")
        version, trace_id, span_id, flags = str(message.application_properties["traceparent"]).split("-")
        assert (int(trace_id, 16), int(span_id, 16)) == (accept.context.trace_id, accept.context.span_id)

    async def test_a_rescheduled_copy_carries_the_trace_on(self, recorded: RecordedTelemetry) -> None:
        world = FakeWorld()
        world.calendar.faults.append(("create", Throttled("429", retry_after=30)))
        outcome = await accept_and_sync(world, recorded, cloud_event("task.planned", "task/3", task_data()))
        assert outcome == "rescheduled"
        [(queue, copy)] = world.queue.sent
        accept = recorded.span("accept planning events")
        assert queue == PLANNING_QUEUE
        assert str(copy.application_properties["traceparent"]).split("-")[1] == f"{accept.context.trace_id:032x}"
        await in_fresh_context(sync_planning_message(copy.body, delivered(copy, world), _sync_deps(world, recorded)))
        processes = [s for s in recorded.spans() if s.name == "process planning-events"]
        assert len(processes) == 2 and {s.context.trace_id for s in processes} == {accept.context.trace_id}


class TestAGraphNotificationIsOneTrace:
    async def test_notification_worker_and_webhook_delivery_share_the_webhook_requests_trace(
            self, recorded: RecordedTelemetry) -> None:
        world = RoomWorld()
        services = world.services(telemetry=recorded.telemetry)
        await register(world, services)
        sub_id, state = subscription_of(world)
        world.take("outbound-events")
        world.advance(minutes=1)
        world.graph.book(ROOM, "E1")
        recorded.exporter.clear()
        await notify(services, notification(sub_id, state, "created", "E1"))
        assert await in_fresh_context(run_graph_queue(world, services)) == ["created"]
        assert await in_fresh_context(run_outbound_queue(world, services)) == ["delivered"]
        assert world.webhook.sent
        receive, work, outbound, post = (recorded.span(n) for n in (
            "receive graph notifications", "process graph-notifications", "process outbound-events",
            "deliver to the booking system"))
        assert {s.context.trace_id for s in (receive, work, outbound, post)} == {receive.context.trace_id}
        assert work.parent is not None and work.parent.span_id == receive.context.span_id
        assert outbound.parent is not None and outbound.parent.span_id == work.context.span_id
        assert post.parent is not None and post.parent.span_id == outbound.context.span_id


class TestMetrics:
    async def test_accepted_processed_and_queue_lag(self, recorded: RecordedTelemetry) -> None:
        world = FakeWorld()
        await accept_and_sync(world, recorded, cloud_event("task.planned", "task/4", task_data()))
        assert recorded.points("connector.events.accepted") == [({"tenant": "t", "source": SOURCE}, 1)]
        assert recorded.points("connector.events.processed") == [({"tenant": "t", "outcome": "written"}, 1)]
        assert recorded.points("connector.queue.lag_seconds") == [({"queue": PLANNING_QUEUE}, (1, 2.0))]

    async def test_an_unchanged_repeat_and_a_dead_letter_are_counted(self, recorded: RecordedTelemetry) -> None:
        world = FakeWorld()
        event = cloud_event("task.planned", "task/5", task_data(), sequence=1)
        await accept_and_sync(world, recorded, event)
        await accept_and_sync(world, recorded, {**event, "id": "evt-again", "sequence": "2"})  # the same content
        await in_fresh_context(sync_planning_message(b"not json", Delivery("m-bad", 1), _sync_deps(world, recorded)))
        assert sorted(v for _, v in recorded.points("connector.events.processed")) == [1, 1, 1]
        outcomes = {a["outcome"] for a, _ in recorded.points("connector.events.processed")}
        assert outcomes == {"written", "unchanged", "dead_lettered"}
        assert recorded.points("connector.deadletters.recorded") == [({"tenant": "t", "queue": PLANNING_QUEUE}, 1)]

    async def test_a_messages_tenant_is_the_tenant_of_its_metrics(self, recorded: RecordedTelemetry) -> None:
        """The work of another tenant counts under that tenant, not the settings'."""
        world = FakeWorld()
        other = "22222222-2222-2222-2222-222222222222"
        deps = _sync_deps(world, recorded)
        delivery = Delivery("m-other", 1, "task/9", {"tenant": other})
        await in_fresh_context(sync_planning_message(b"not json", delivery, deps))
        assert recorded.points("connector.events.processed") == [({"tenant": other, "outcome": "dead_lettered"}, 1)]
        assert recorded.points("connector.deadletters.recorded") == [({"tenant": other, "queue": PLANNING_QUEUE}, 1)]
        with recorded.telemetry.for_tenant(None):
            recorded.telemetry.event_processed("written")
        assert ({"tenant": "t", "outcome": "written"}, 1) in recorded.points("connector.events.processed")

    def test_gauges_report_the_last_value_told(self, recorded: RecordedTelemetry) -> None:
        t = recorded.telemetry
        t.subscriptions(healthy=3, failing=2)
        t.subscriptions(healthy=4, failing=1)
        t.credential_days_left("secret", 41)
        t.connections_needing_reconnect(2)
        t.breaker_tripped(SOURCE, True)
        t.deadletters_open(7)
        t.queue_oldest_age(PLANNING_QUEUE, 12.5)
        assert sorted(recorded.points("connector.subscriptions"), key=lambda p: p[0]["state"]) == [
            ({"tenant": "t", "state": "failing"}, 1), ({"tenant": "t", "state": "healthy"}, 4)]
        assert recorded.points("connector.credential.days_left") == [({"tenant": "t", "kind": "secret"}, 41)]
        assert recorded.points("connector.connections.needs_reconnect") == [({"tenant": "t"}, 2)]
        assert recorded.points("connector.breakers.tripped") == [({"tenant": "t", "source": SOURCE}, 1)]
        assert recorded.points("connector.deadletters.open") == [({"tenant": "t"}, 7)]
        assert recorded.points("connector.queue.oldest_age_seconds") == [({"queue": PLANNING_QUEUE}, 12.5)]


class TestGraphRequests:
    async def test_each_attempt_is_a_client_span_counted_by_bucket_and_status_never_naming_the_mailbox(
            self, recorded: RecordedTelemetry) -> None:
        answers = iter([httpx.Response(429, headers={"Retry-After": "7"}, stream=httpx.ByteStream(b"")),
                        httpx.Response(201, stream=httpx.ByteStream(b'{"id": "E"}'))])
        clock = [0.0]
        limiter = MailboxConcurrencyLimiter(httpx.MockTransport(lambda request: next(answers)),
                                            telemetry=recorded.telemetry, pacer=MailboxPacer(4, clock=lambda: clock[0]))
        async with httpx.AsyncClient(transport=limiter) as client:
            with recorded.telemetry.span("process planning-events"):
                for at in (0.0, 7.0):  # the second once the mailbox has reopened
                    clock[0] = at
                    await client.post("https://graph.microsoft.com/v1.0/users/Anna@Contoso.com/events", json={})
        bucket = mailbox_bucket("anna@contoso.com")
        first, second = [s for s in recorded.spans() if s.name == "graph POST"]
        assert first.attributes == {"http.request.method": "POST", "mailbox_bucket": bucket,
                                    "http.response.status_code": 429, "retry_after_seconds": 7.0}
        assert second.parent is not None and second.parent.span_id == recorded.span(
            "process planning-events").context.span_id
        requests = {a["status_class"]: v for a, v in recorded.points("connector.graph.requests")}
        assert requests == {"429": 1, "2xx": 1}
        assert recorded.points("connector.graph.throttled") == [({"tenant": "t", "mailbox_bucket": str(bucket)}, 1)]
        assert recorded.points("connector.graph.wait_seconds") == [({"tenant": "t", "mailbox_bucket": str(bucket)},
                                                                     7.0)]
        exported = json.dumps([dict(s.attributes or {}) for s in recorded.spans()]).lower()
        assert "anna" not in exported and "contoso" not in exported

    def test_the_bucket_is_stable_case_blind_and_within_64(self) -> None:
        assert mailbox_bucket("Anna@Contoso.com") == mailbox_bucket("anna@contoso.com")
        assert mailbox_bucket("anna@contoso.com") == 27  # the same in every process and release
        assert {mailbox_bucket(f"room{i}@contoso.com") for i in range(2000)} == set(range(64))


class TestConfiguration:
    def test_the_exporter_setting_takes_console_otlp_or_nothing(self) -> None:
        base = {"ServiceBusConnection__fullyQualifiedNamespace": "sb.example", "TableStorage__endpoint": "https://t"}
        assert Settings.from_env(base).telemetry.exporter == ""
        assert Settings.from_env({**base, "CONNECTOR_OTEL_EXPORTER": "Console"}).telemetry.exporter == "console"
        with pytest.raises(ConfigurationError, match="CONNECTOR_OTEL_EXPORTER"):
            Settings.from_env({**base, "CONNECTOR_OTEL_EXPORTER": "zipkin"})

    def test_the_connection_string_stays_out_of_repr(self) -> None:
        secret = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://x"
        settings = Settings.from_env({"ServiceBusConnection__fullyQualifiedNamespace": "sb.example",
                                      "TableStorage__endpoint": "https://t",
                                      "APPLICATIONINSIGHTS_CONNECTION_STRING": secret})
        assert settings.telemetry.connection_string == secret and secret not in repr(settings)

    def test_the_console_exporter_prints_spans_made_before_it_and_logs_carry_their_trace(self) -> None:
        probe = r"""
import logging
from shared.adapters.telemetry import OpenTelemetry, configure_exporters
from shared.config import Settings, TelemetrySettings

telemetry = OpenTelemetry("t")  # made before the exporter is configured (it is, on a thread of its own)
assert configure_exporters(Settings(telemetry=TelemetrySettings(exporter="console"))) == "console"
records = []
handler = logging.Handler()
handler.emit = records.append
logging.getLogger("probe").addHandler(handler)
with telemetry.span("probe span"):
    logging.getLogger("probe").warning("inside")
print("LOGGED", records[0].otelTraceID)
"""
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                              check=False, cwd=Path(__file__).resolve().parents[2])
        assert done.returncode == 0, done.stderr
        logged = done.stdout.split("LOGGED ")[1].split()[0]
        assert '"name": "probe span"' in done.stdout and f'"trace_id": "0x{logged}"' in done.stdout


def _sync_deps(world: FakeWorld, recorded: RecordedTelemetry) -> Any:
    return world.services(telemetry=recorded.telemetry).sync()
