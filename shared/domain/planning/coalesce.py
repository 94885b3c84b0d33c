"""Coalescing: which message of a batch to apply for each entity, and which ones it supersedes.

Pure. The planner is state based, so applying only the newest state of an entity ends where applying every
message one by one ends: a message not newer than the running newest would plan "stale" anyway. "Newest" is found
the way one-by-one delivery finds it: walking the batch in order, a message replaces the running newest only when it
is strictly newer (``Version.is_newer_than``), so of two messages with the same version the first wins, as it does
when the second arrives after the first was applied.

A message without an entity (a drift repair or removal, or one that is not a valid planning event) is a barrier: it
is applied on its own, in its place, and nothing is coalesced across it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.domain.planning.model import EntityKey, Version

__all__ = ["Step", "coalesce"]


@dataclass(frozen=True)
class Step:
    """Apply the message at ``apply``; the messages at ``superseded`` need nothing once it is settled."""

    apply: int
    superseded: tuple[int, ...] = ()


def coalesce(items: Sequence[tuple[EntityKey, Version] | None]) -> list[Step]:
    """The steps for a batch, in the order to run them (each step in the place of its newest message).

    ``items``: per message of the batch, in delivery order, its entity and version, or None for a barrier.
    """
    steps: list[Step] = []
    newest: dict[EntityKey, int] = {}
    members: dict[EntityKey, list[int]] = {}

    def flush() -> None:
        segment = [Step(index, tuple(i for i in members[key] if i != index)) for key, index in newest.items()]
        steps.extend(sorted(segment, key=lambda step: step.apply))
        newest.clear()
        members.clear()

    for index, item in enumerate(items):
        if item is None:
            flush()
            steps.append(Step(index))
            continue
        key, version = item
        members.setdefault(key, []).append(index)
        current = newest.get(key)
        if current is None or version.is_newer_than(_version(items[current])):
            newest[key] = index
    flush()
    return steps


def _version(item: tuple[EntityKey, Version] | None) -> Version:
    assert item is not None
    return item[1]
