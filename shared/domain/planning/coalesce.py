"""Coalescing by debouncing: what the sync worker does with a planning event's delayed copy. Pure.

The worker puts off each live planning event by a short window (a copy scheduled on the entity's session) and
remembers, in process memory, the newest version of each entity it has seen and when. When the copy is due:

* a newer version of the entity was seen: the copy is ``COALESCED`` (completed without a Graph request; the newer
  one has its own copy on the queue);
* the entity was seen less than the window ago (still bursting): ``Wait`` until the window after its last arrival
  has passed, but never beyond the cap after the burst began, so an entity that never stops is still written;
* otherwise, or once the burst has lasted the cap, or with no memory of the entity: ``APPLY`` (plan, Graph,
  mapping), as one-by-one delivery does.

The planner is state based and fenced by version, so applying any subset of the events that includes the newest
ends where applying every one ends: the memory only saves requests, it never decides what the calendar holds.
"Newer" is the planner's own order (``Version.is_newer_than``: sequence, else time), so of two events with the same
version neither supersedes the other (the second then plans "stale", as it does one by one).

``Recent`` is the memory: bounded in entries, and an entity not seen for the cap is forgotten (a copy that
finds nothing is applied).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from shared.domain.planning.model import EntityKey, Version

__all__ = ["APPLY", "COALESCED", "Decision", "Recent", "Seen", "Wait"]

APPLY: Literal["apply"] = "apply"
COALESCED: Literal["coalesced"] = "coalesced"


@dataclass(frozen=True)
class Wait:
    """Put the copy off again, until ``until``."""

    until: datetime


Decision = Literal["apply", "coalesced"] | Wait


@dataclass(frozen=True)
class Seen:
    """What the process remembers of an entity."""

    newest: Version
    last_seen: datetime  # the latest arrival of a live event for it
    burst_since: datetime | None  # the first arrival not yet followed by a write; None right after one


class Recent:
    """Entity → ``Seen``, least recently seen first; at most ``max_entries``, none older than ``cap``."""

    def __init__(self, window: timedelta, cap: timedelta, *, max_entries: int = 100_000) -> None:
        self.window = window
        self.cap = cap
        self.max_entries = max_entries
        self._seen: OrderedDict[EntityKey, Seen] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def get(self, key: EntityKey) -> Seen | None:
        return self._seen.get(key)

    def arrived(self, key: EntityKey, version: Version, now: datetime) -> None:
        """A live event for ``key`` arrived (and its copy is on the queue)."""
        seen = self._seen.pop(key, None)
        if seen is None:
            self._seen[key] = Seen(version, now, now)
        else:
            newest = version if version.is_newer_than(seen.newest) else seen.newest
            self._seen[key] = Seen(newest, max(now, seen.last_seen), seen.burst_since or now)
        self._evict(now)

    def decide(self, key: EntityKey, version: Version, now: datetime) -> Decision:
        """What to do with a due copy carrying ``version`` of ``key``."""
        self._evict(now)
        seen = self._seen.get(key)
        if seen is None:
            return APPLY
        since = seen.burst_since or seen.last_seen
        if now - since >= self.cap:  # the burst lasted the cap: write what this copy holds
            return APPLY
        if seen.newest.is_newer_than(version):
            return COALESCED
        until = min(seen.last_seen + self.window, since + self.cap)
        return Wait(until) if until > now else APPLY

    def written(self, key: EntityKey) -> None:
        """A copy of ``key`` was applied: a burst after it starts afresh."""
        seen = self._seen.get(key)
        if seen is not None:
            self._seen[key] = replace(seen, burst_since=None)

    def _evict(self, now: datetime) -> None:
        seen = self._seen
        while seen and (len(seen) > self.max_entries or now - next(iter(seen.values())).last_seen > self.cap):
            seen.popitem(last=False)
