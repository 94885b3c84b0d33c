from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.planning.model import EntityKey, Mapping, Version
from shared.domain.planning.plan import CreateEvent, DeleteEvent, UpdateEvent, decide, transaction_id
from shared.domain.planning.render import Desired

KEY = EntityKey("https://planning.example.com", "task/1")
T0 = datetime(2026, 5, 1, tzinfo=UTC)


def v(n: int) -> Version:
    return Version(T0 + timedelta(minutes=n), n)


def desired(mailbox: str = "anna@contoso.com", subject: str = "Boiler") -> Desired:
    return Desired(mailbox, {"subject": subject})


def alive(mailbox: str = "anna@contoso.com", subject: str = "Boiler", version: int = 1, generation: int = 1) -> Mapping:
    d = desired(mailbox, subject)
    return Mapping(KEY, v(version), mailbox, "evt1", d.content_hash, generation, etag="e1")


class TestDecide:
    def test_a_new_task_is_created_with_a_transaction_id(self) -> None:
        plan = decide(KEY, desired(), v(1), None)
        txn = transaction_id(KEY, "anna@contoso.com", 0)
        assert plan.operations == (CreateEvent("anna@contoso.com", {"subject": "Boiler"}, txn),)
        assert plan.mapping is not None and plan.mapping.generation == 1 and plan.mapping.etag is None

    def test_a_reschedule_in_the_same_calendar_is_an_update(self) -> None:
        plan = decide(KEY, desired(subject="Boiler, later"), v(2), alive())
        assert plan.operations == (UpdateEvent("anna@contoso.com", "evt1", {"subject": "Boiler, later"}),)
        assert plan.mapping is not None and plan.mapping.version == v(2) and plan.mapping.etag == "e1"

    def test_unchanged_content_makes_no_graph_call_but_records_the_version(self) -> None:
        plan = decide(KEY, desired(), v(2), alive())
        assert plan.operations == ()
        assert plan.mapping is not None and plan.mapping.version == v(2)

    def test_a_reassignment_creates_in_the_new_calendar_then_deletes_from_the_old(self) -> None:
        plan = decide(KEY, desired("ben@contoso.com"), v(2), alive())
        assert [type(op) for op in plan.operations] == [CreateEvent, DeleteEvent]
        assert plan.operations[0].mailbox == "ben@contoso.com"
        assert plan.operations[1] == DeleteEvent("anna@contoso.com", "evt1")
        assert plan.mapping is not None and plan.mapping.mailbox == "ben@contoso.com" and plan.mapping.generation == 2

    def test_unplanning_deletes_and_leaves_a_tombstone(self) -> None:
        plan = decide(KEY, None, v(2), alive())
        assert plan.operations == (DeleteEvent("anna@contoso.com", "evt1"),)
        assert plan.mapping is not None and plan.mapping.deleted and plan.mapping.version == v(2)

    def test_unplanning_an_unknown_task_remembers_the_removal(self) -> None:
        plan = decide(KEY, None, v(3), None)
        assert plan.operations == () and plan.mapping is not None and plan.mapping.deleted

    @pytest.mark.parametrize("version", [0, 1])
    def test_an_older_or_equal_version_is_stale(self, version: int) -> None:
        plan = decide(KEY, desired(subject="old"), v(version), alive(version=1))
        assert plan.operations == () and plan.mapping is None and plan.reason == "stale"

    def test_a_late_planned_cannot_bring_back_a_deleted_task(self) -> None:
        tombstone = Mapping(KEY, v(5), generation=1, etag="e2")
        assert decide(KEY, desired(), v(4), tombstone).mapping is None

    def test_planning_again_after_a_delete_uses_a_new_transaction_id(self) -> None:
        tombstone = Mapping(KEY, v(5), generation=1, etag="e2")
        plan = decide(KEY, desired(), v(6), tombstone)
        create = plan.operations[0]
        assert isinstance(create, CreateEvent)
        assert create.transaction_id != transaction_id(KEY, "anna@contoso.com", 0)

    def test_time_orders_events_when_a_sequence_is_missing(self) -> None:
        mapping = Mapping(KEY, Version(T0, None), "anna@contoso.com", "evt1", "h", 1, "e")
        assert decide(KEY, desired(), Version(T0 + timedelta(seconds=1), 7), mapping).mapping is not None
        assert decide(KEY, desired(), Version(T0 - timedelta(seconds=1), 99), mapping).mapping is None

    def test_mailbox_comparison_uses_the_normalised_address(self) -> None:
        plan = decide(KEY, desired("anna@contoso.com", "New"), v(2), alive("anna@contoso.com"))
        assert [type(op) for op in plan.operations] == [UpdateEvent]
