"""One planning event's trace through the real Graph adapter and the HTTPS simulator: the accept span, the
processing span (continued from the message's trace context), each Graph request and the mapping write."""

from __future__ import annotations

import asyncio
import contextvars
import json

from local.graphsim.server import RunningSimulator
from shared.adapters.graph.calendar import GraphCalendarGateway
from shared.adapters.graph.session import GraphSession
from shared.app.messaging import Delivery
from shared.app.planning.ingest import ingest_planning_events
from shared.app.planning.sync import sync_planning_message
from shared.domain.mailbox_bucket import mailbox_bucket
from tests.fakes.telemetry import RecordedTelemetry
from tests.support.builders import FakeWorld, cloud_event, sim_settings, task_data

MAILBOX = "anna@contoso.com"


async def test_one_events_spans_form_one_trace_across_the_queue_and_graph(simulator: RunningSimulator) -> None:
    simulator.state.reset()
    simulator.state.add_user(MAILBOX, "Anna")
    recorded = RecordedTelemetry()
    settings = sim_settings(simulator)
    gateway = GraphCalendarGateway(GraphSession(settings, telemetry=recorded.telemetry), owns_session=True)
    world = FakeWorld()
    world.calendar = gateway  # type: ignore[assignment]
    simulator.state.add_fault(429, mailbox=MAILBOX, method="POST", retry_after=1, count=1)
    try:
        services = world.services(telemetry=recorded.telemetry)
        event = cloud_event("task.planned", "task/graph-1", task_data(resource=MAILBOX))
        reply = await ingest_planning_events(json.dumps(event).encode(), "application/cloudevents+json",
                                             services.ingest())
        assert reply.status == 202
        [(_, message)] = world.queue.sent
        delivery = Delivery(message.message_id, 1, message.session_id, message.application_properties)
        outcome = await asyncio.create_task(sync_planning_message(message.body, delivery, services.sync()),
                                            context=contextvars.Context())
    finally:
        await gateway.close()
    assert outcome == "create"
    accept, process, write = (recorded.span(n) for n in ("accept planning events", "process planning-events",
                                                          "write mapping"))
    graph = [s for s in recorded.spans() if s.name.startswith("graph ")]
    assert [(s.attributes or {}).get("http.response.status_code") for s in graph] == [429, 201]
    assert {s.context.trace_id for s in (accept, process, write, *graph)} == {accept.context.trace_id}
    assert process.parent is not None and process.parent.span_id == accept.context.span_id
    assert all(s.parent is not None and s.parent.span_id == process.context.span_id for s in (write, *graph))
    assert all((s.attributes or {})["mailbox_bucket"] == mailbox_bucket(MAILBOX) for s in graph)
    assert recorded.points("connector.graph.wait_seconds") == [
        ({"tenant": recorded.tenant, "mailbox_bucket": str(mailbox_bucket(MAILBOX))}, 1.0)]
