"""The planner: (desired state, stored mapping) → the Graph operations that make a calendar right.

Pure and state based, in the manner of vdirsyncer's ``_get_actions``. Invariants:

* An event that is not newer than what was applied plans nothing (stale, duplicate, out of order).
* Unchanged content plans no Graph operation; only the version is recorded.
* A change of mailbox is a create in the new calendar followed by a delete in the old one, so once
  the plan has run exactly one calendar holds the entity.
* A removal leaves a tombstone (mapping without event), so an older "planned" arriving late is stale.
* Each create carries a ``transactionId`` derived from (entity, mailbox, generation): a redelivery
  after a lost mapping write repeats it exactly, and Graph returns the event it already made.
* A repair (drift found by hand edits) redelivers the last applied event: the same version is not stale,
  and unchanged content is written again (an update; the executor recreates the event when it is gone).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

from shared.domain.planning.model import EntityKey, Mapping, Version
from shared.domain.planning.render import Desired

__all__ = ["CreateEvent", "DeleteEvent", "Operation", "Plan", "UpdateEvent", "decide", "transaction_id"]

# Fixed namespace of the project: transaction ids and extended-property ids derive from it.
PROJECT_NAMESPACE = uuid.UUID("6d2f3c8e-8d0b-4c8e-9a43-5b1f0c7e2a91")


@dataclass(frozen=True)
class CreateEvent:
    mailbox: str
    content: dict[str, Any]
    transaction_id: str


@dataclass(frozen=True)
class UpdateEvent:
    mailbox: str
    event_id: str
    content: dict[str, Any]


@dataclass(frozen=True)
class DeleteEvent:
    mailbox: str
    event_id: str


Operation = CreateEvent | UpdateEvent | DeleteEvent


@dataclass(frozen=True)
class Plan:
    """Operations to run in order, then the mapping to store (None: store nothing)."""

    operations: tuple[Operation, ...]
    mapping: Mapping | None
    reason: str


def transaction_id(key: EntityKey, mailbox: str, generation: int) -> str:
    return str(uuid.uuid5(PROJECT_NAMESPACE, f"{key.value}\n{mailbox.lower()}\n{generation}"))


def decide(key: EntityKey, desired: Desired | None, version: Version, mapping: Mapping | None, *,
           repair: bool = False) -> Plan:
    """Plan the operations that bring the entity's calendar entry to ``desired`` (None: no entry).

    ``repair``: the event is the last applied one again, sent by drift repair; the calendar no longer shows it.
    The returned mapping has no event id yet where a create is planned: the executor fills it in.
    """
    if mapping is not None and (mapping.version.is_newer_than(version) if repair
                                else not version.is_newer_than(mapping.version)):
        # Already applied something as new or newer: a duplicate or an out-of-order delivery
        # (for a repair: a newer event came after the drift run, and it decides).
        return Plan((), None, "stale")
    generation = mapping.generation if mapping else 0
    current = mapping if mapping is not None and not mapping.deleted else None

    if desired is None:
        tombstone = Mapping(key, version, generation=generation, etag=mapping.etag if mapping else None)
        if current is None:
            # Nothing in any calendar; remember the removal so older events stay stale.
            return Plan((), tombstone, "already absent")
        assert current.mailbox is not None and current.event_id is not None
        return Plan((DeleteEvent(current.mailbox, current.event_id),), tombstone, "remove")

    new_hash = desired.content_hash
    if current is not None and current.mailbox == desired.mailbox:
        recorded = replace(current, version=version, content_hash=new_hash)
        if current.content_hash == new_hash and not repair:
            # Same calendar, same content: nothing for Graph to do.
            return Plan((), recorded, "unchanged")
        assert current.event_id is not None
        return Plan((UpdateEvent(desired.mailbox, current.event_id, desired.content),), recorded,
                    "repair" if repair else "update")

    create = CreateEvent(desired.mailbox, desired.content, transaction_id(key, desired.mailbox, generation))
    created = Mapping(key, version, mailbox=desired.mailbox, event_id=None, content_hash=new_hash,
                      generation=generation + 1, etag=mapping.etag if mapping else None)
    if current is None:
        return Plan((create,), created, "create")
    assert current.mailbox is not None and current.event_id is not None
    # Reassigned: create in the new calendar first, so a failure in between never loses the task.
    return Plan((create, DeleteEvent(current.mailbox, current.event_id)), created, "move")
