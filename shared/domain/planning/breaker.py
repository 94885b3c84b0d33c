"""The mass-deletion breaker's rule: when a source's deletes in a sliding window look like a loss of data.

Pure. Time is counted in one-minute buckets (minutes since the Unix epoch), so a window of W minutes is the
last W buckets: exact to the minute, and cheap to count in Table Storage (one counter row per bucket). A delete
that removes an entity from every calendar counts (unplanned, deleted, removed, cancelled, an opt-out); a move's
delete of the old copy does not: the entity is still in a calendar, nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["BreakerLimits", "DeleteCounts", "bucket_of", "might_trip_by_share", "trip_reason"]


@dataclass(frozen=True)
class BreakerLimits:
    """``0`` switches a limit off. ``max_share`` applies to sources with at least ``min_population`` entities."""

    max_deletes: int = 200
    window_minutes: int = 10
    max_deletes_per_mailbox: int = 50
    max_share: float = 0.5
    min_population: int = 50


@dataclass(frozen=True)
class DeleteCounts:
    """Deletes of one source within the window, this one included: in all, and in this delete's mailbox."""

    source: int
    mailbox: int


def bucket_of(now: datetime) -> int:
    """The one-minute bucket ``now`` falls into."""
    return int(now.timestamp() // 60)


def might_trip_by_share(counts: DeleteCounts, limits: BreakerLimits) -> bool:
    """Whether the share rule could trip at all, so the source's population is worth counting: it needs more
    than ``max_share`` of at least ``min_population`` entities."""
    return limits.max_share > 0 and counts.source > limits.max_share * max(limits.min_population, 1)


def trip_reason(counts: DeleteCounts, mailbox: str, limits: BreakerLimits, had: int | None = None) -> str | None:
    """Why this delete must be held, or None when it may go on.

    ``had``: the entities the source had in calendars when the window began (live now plus the window's
    earlier deletes); None when not counted (``might_trip_by_share`` was false).
    """
    window = f"{limits.window_minutes} minute(s)"
    if limits.max_deletes and counts.source > limits.max_deletes:
        # More deletes than any planning day should bring: a faulty export or filter looks just like this.
        return f"{counts.source} deletes within {window} (limit {limits.max_deletes} per source)"
    if limits.max_deletes_per_mailbox and counts.mailbox > limits.max_deletes_per_mailbox:
        # One person's calendar emptied at once: a wrong resource mapping or a leaver handled as "unplan all".
        return (f"{counts.mailbox} deletes in mailbox {mailbox} within {window} "
                f"(limit {limits.max_deletes_per_mailbox} per mailbox)")
    if had is not None and had >= limits.min_population and counts.source > limits.max_share * had:
        # The source suddenly unplans most of what it had.
        return (f"{counts.source} deletes within {window} of the {had} entities the source had "
                f"(more than {limits.max_share:.0%})")
    return None
