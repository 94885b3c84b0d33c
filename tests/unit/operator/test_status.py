"""GET /api/manage/status and GET /api/health as use cases, over fakes: every section, one failing dependency
degrades the status and nothing else, a hanging probe times out, and the local queue's depths."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from shared.adapters.local_queue import LocalQueuePublisher
from shared.app.messaging import GRAPH_QUEUE, PLANNING_QUEUE, QUEUES, OutboundMessage
from shared.app.operator import doctor, status
from shared.app.ports.breakers import BreakerState
from shared.app.ports.operator import MailboxAnswer, QueueStats
from shared.app.ports.rooms import Room
from tests.fakes.breakers import InMemoryBreakerStore
from tests.support.builders import FakeWorld
from tests.support.credential_fakes import NOW, CredentialWorld
from tests.unit.credentials import test_doctor
from tests.unit.credentials.test_doctor import BrokenResources, services

creds = test_doctor.creds  # the doctor's fixture: a secret in the vault, 90 days left


class Probes:
    """HealthProbes whose queue hangs (``hang``) or reports depths."""

    def __init__(self, *, hang: bool = False, stats: list[QueueStats] | None = None) -> None:
        self.hang, self.stats = hang, stats or []

    async def table_storage(self) -> None:
        pass

    async def queue(self) -> None:
        if self.hang:
            await asyncio.Event().wait()  # never answers

    async def queue_stats(self) -> list[QueueStats]:
        return self.stats

    async def mailbox(self, mailbox: str, token: str) -> MailboxAnswer:
        return MailboxAnswer(200)


class Rooms:
    def __init__(self, rooms: list[Room]) -> None:
        self.rooms = rooms

    async def list(self) -> list[Room]:
        return self.rooms


class TestStatus:
    async def test_a_healthy_deployment_is_ok_in_every_section_and_shows_no_secret(
            self, creds: CredentialWorld) -> None:
        document = await status.status_document(services(FakeWorld(), creds).doctor(rooms=False))
        assert document["status"] == "ok" and document["failing"] == []
        assert set(document) >= {"dependencies", "rooms", "credential", "breakers", "queues", "version"}
        assert {name: entry["state"] for name, entry in document["dependencies"].items()} == {
            "tableStorage": "ok", "queue": "ok", "keyVault": "ok", "graphToken": "ok"}
        assert document["credential"]["daysLeft"] == 90 and document["credential"]["worker"]["state"] == "running"
        assert document["breakers"] == [] and document["rooms"] == []
        assert "the-secret" not in json.dumps(document)

    async def test_one_failing_dependency_fails_its_entry_only_and_degrades_the_status(
            self, creds: CredentialWorld) -> None:
        deps = services(FakeWorld(), creds, resources=BrokenResources()).doctor(rooms=False)
        document = await status.status_document(deps)
        assert document["status"] == "degraded" and document["failing"] == ["tableStorage"]
        table = document["dependencies"]["tableStorage"]
        assert table["state"] == "failing" and "refused the connection" in table["detail"] and table["checkedAt"]
        assert all(e["state"] == "ok" for n, e in document["dependencies"].items() if n != "tableStorage")

    async def test_a_hanging_probe_times_out_and_the_others_still_answer(self, creds: CredentialWorld) -> None:
        deps = replace(services(FakeWorld(), creds).doctor(rooms=False), health=Probes(hang=True),
                       probe_timeout=0.05)
        document = await status.status_document(deps)
        assert document["failing"] == ["queue"]
        assert document["dependencies"]["queue"]["detail"] == "no answer within 0.05 s"
        assert document["dependencies"]["tableStorage"]["state"] == "ok"

    async def test_the_doctor_reads_the_same_timed_out_probe(self, creds: CredentialWorld) -> None:
        deps = replace(services(FakeWorld(), creds).doctor(rooms=False), health=Probes(hang=True),
                       probe_timeout=0.05)
        [bad] = [c for c in await doctor.run_checks(deps) if not c.ok]
        assert bad.name == "queue" and "no answer within 0.05 s" in bad.detail

    async def test_each_room_subscription_shows_until_when_or_since_when_it_fails_and_why(
            self, creds: CredentialWorld) -> None:
        rooms = Rooms([Room("ok@contoso.com", NOW, subscription_id="s1", expires_at=NOW + timedelta(days=2)),
                       Room("bad@contoso.com", NOW, failing_since=NOW - timedelta(hours=1),
                            failure="Graph refused the subscription: 403")])
        deps = replace(services(FakeWorld(), creds).doctor(rooms=False), rooms=rooms)
        document = await status.status_document(deps)
        ok, bad = document["rooms"]
        assert (ok["state"], ok["subscribedUntil"]) == ("ok", "2026-05-03T12:00:00+00:00")
        assert (bad["state"], bad["failingSince"]) == ("failing", "2026-05-01T11:00:00+00:00")
        assert "403" in bad["reason"] and document["failing"] == ["rooms"]

    async def test_queue_depths_and_the_oldest_age_are_reported_per_queue(self, creds: CredentialWorld) -> None:
        stats = [QueueStats(PLANNING_QUEUE, active=3, dead_lettered=1, scheduled=2, oldest_age_seconds=42.5)]
        deps = replace(services(FakeWorld(), creds).doctor(rooms=False), health=Probes(stats=stats))
        queues = (await status.status_document(deps))["queues"]
        assert queues["value"] == [{"queue": PLANNING_QUEUE, "active": 3, "deadLettered": 1, "scheduled": 2,
                                    "oldestAgeSeconds": 42.5}]
        assert queues["state"] == "ok" and queues["deadLetters"] == 0

    def test_liveness_answers_ok_with_the_version(self) -> None:
        reply = status.health_reply()
        assert reply.status == 200 and reply.json() == {"status": "ok", "version": status.version()}


class TestLocalQueueStats:
    async def test_depths_and_the_oldest_active_message_age_come_from_the_queue_file(self, tmp_path) -> None:
        queue = LocalQueuePublisher(tmp_path / "q.db")
        try:
            await queue.send(PLANNING_QUEUE, [OutboundMessage(b"{}", "m1", session_id="s"),
                                              OutboundMessage(b"{}", "m2", session_id="s")])
            later = OutboundMessage(b"{}", "m3", session_id="s",
                                    scheduled_enqueue_time=NOW.replace(year=2100))
            await queue.send(GRAPH_QUEUE, [later])
            stats = {s.queue: s for s in await queue.stats(QUEUES)}
        finally:
            await queue.close()
        assert [s for s in stats] == list(QUEUES)
        planning = stats[PLANNING_QUEUE]
        assert (planning.active, planning.scheduled, planning.dead_lettered) == (2, 0, 0)
        assert planning.oldest_age_seconds is not None and planning.oldest_age_seconds >= 0
        graph = stats[GRAPH_QUEUE]
        assert (graph.active, graph.scheduled, graph.oldest_age_seconds) == (0, 1, None)

    async def test_a_missing_queue_file_is_a_transient_error(self, tmp_path) -> None:
        from shared.errors import TransientError

        with pytest.raises(TransientError):
            await LocalQueuePublisher(tmp_path / "nowhere" / "q.db").stats(QUEUES)


class TestServiceBusStats:
    """The Service Bus adapter reads depths from the queues' runtime properties (the administration client
    is given here; tests/integration/servicebus has no administration API to talk to)."""

    class Administration:
        def __init__(self, error: Exception | None = None) -> None:
            self.error = error

        async def get_queue_runtime_properties(self, queue: str):  # type: ignore[no-untyped-def]
            from types import SimpleNamespace

            if self.error is not None:
                raise self.error
            return SimpleNamespace(active_message_count=4, dead_letter_message_count=1, scheduled_message_count=None)

        async def close(self) -> None:
            pass

    def queue(self, administration: object):  # type: ignore[no-untyped-def]
        from shared.adapters.servicebus import ServiceBusQueue
        from shared.config import QueueConnection

        return ServiceBusQueue(QueueConnection(fully_qualified_namespace="x.servicebus.windows.net"),
                               administration=administration)

    async def test_counts_come_from_the_runtime_properties_without_an_age(self) -> None:
        [stats] = await self.queue(self.Administration()).stats([PLANNING_QUEUE])
        assert stats == QueueStats(PLANNING_QUEUE, active=4, dead_lettered=1, scheduled=0, oldest_age_seconds=None)

    async def test_a_refused_identity_is_a_configuration_error_naming_the_setting(self) -> None:
        from azure.core.exceptions import ClientAuthenticationError

        from shared.errors import ConfigurationError

        with pytest.raises(ConfigurationError) as raised:
            await self.queue(self.Administration(ClientAuthenticationError("401"))).stats([PLANNING_QUEUE])
        assert "ServiceBusConnection" in str(raised.value) and PLANNING_QUEUE in str(raised.value)


class Unreadable(Probes):
    async def queue_stats(self) -> list[QueueStats]:
        raise PermissionError("the service refused the identity")


async def test_queue_figures_that_cannot_be_read_are_unknown_not_a_failure(creds: CredentialWorld) -> None:
    deps = replace(services(FakeWorld(), creds).doctor(rooms=False), health=Unreadable())
    document = await status.status_document(deps)
    assert document["status"] == "ok" and document["queues"]["state"] == "unknown"
    assert "refused the identity" in document["queues"]["detail"] and document["queues"]["value"] == []


async def test_a_tripped_breaker_shows_and_degrades_the_status(creds: CredentialWorld) -> None:
    store = InMemoryBreakerStore()
    await store.trip(BreakerState("https://planning.example.com/omd", tripped=True, since=NOW, reason="250 deletes"))
    document = await status.status_document(services(FakeWorld(), creds).doctor(rooms=False), store)
    assert document["failing"] == ["breakers"] and document["status"] == "degraded"
    assert document["breakers"] == [{"source": "https://planning.example.com/omd", "state": "tripped",
                                     "since": NOW.isoformat(timespec="seconds"), "reason": "250 deletes"}]


class TestTenantReport:
    """``?tenant=``: the tenant's token (its own provider), rooms and dead letters; 400 malformed, 404 unknown."""

    B = "22222222-2222-2222-2222-222222222222"

    async def deps_with_b(self, world: FakeWorld, creds: CredentialWorld, asked: list[str]) -> Any:
        from shared.app.ports.planning import DeadLetterRecord
        from shared.app.tenants.directory import RegisteredTenants
        from shared.domain.tenants.model import CredentialRef, Tenant, TenantId
        from tests.fakes.tenants import InMemoryTenantStore

        deps = services(world, creds).doctor(rooms=False)
        registry = InMemoryTenantStore()
        await registry.save(Tenant(TenantId(self.B), "Fabrikam", ("https://planning.example/b",),
                                   CredentialRef("secret", "fabrikam-secret")))

        def provider(tenant: Tenant) -> Any:
            asked.append(tenant.id)
            return deps.credentials.provider

        rooms = Rooms([Room(email="r@contoso.com", activated_at=NOW),
                       Room(email=f"{self.B} r@fabrikam.com", activated_at=NOW)])
        for tenant in (None, self.B, self.B):
            await world.deadletters.add(DeadLetterRecord(f"d{len(world.deadletters.records)}", PLANNING_QUEUE, "m",
                                                         None, "{}", "why", 10, NOW, tenant))
        return replace(deps, tenants=RegisteredTenants(deps.settings, registry), tenant_credentials=provider,
                       rooms=rooms)

    async def test_the_status_and_the_doctor_of_one_tenant(self, creds: CredentialWorld) -> None:
        world, asked = FakeWorld(), []
        deps = await self.deps_with_b(world, creds, asked)
        reply = await status.status_reply(deps, tenant=self.B)
        assert reply.status == 200 and asked == [self.B]
        assert [r["email"] for r in reply.json()["rooms"]] == ["r@fabrikam.com"]
        checks = (await doctor.doctor_reply(deps, tenant=self.B.upper())).json()["checks"]
        [dead] = [c for c in checks if c["name"] == "dead letters"]
        assert dead["detail"] == "2 message(s)"
        everyone = (await doctor.doctor_reply(deps)).json()["checks"]
        assert [c["detail"] for c in everyone if c["name"] == "dead letters"] == ["3 message(s)"]

    async def test_a_malformed_or_unknown_tenant_is_refused(self, creds: CredentialWorld) -> None:
        deps = await self.deps_with_b(FakeWorld(), creds, [])
        assert (await status.status_reply(deps, tenant="fabrikam")).status == 400
        assert (await doctor.doctor_reply(deps, tenant="fabrikam")).status == 400
        unknown = "44444444-4444-4444-4444-444444444444"
        reply = await status.status_reply(deps, tenant=unknown)
        assert reply.status == 404 and unknown in reply.json()["detail"]
        assert (await doctor.doctor_reply(deps, tenant=unknown)).status == 404
