"""When a subscription must be renewed, and the expiry to ask for. Pure (time is passed in).

Graph allows at most 10,080 minutes for Outlook event subscriptions; asking for a little less keeps
clock skew from turning a renewal into a 400. A subscription is renewed once less than half its
lifetime, or less than two days, remain (whichever comes first), so several timer runs get a chance
before it lapses. The expiry decided on is always Graph's: the one its answer to a create or renew
carries and, on each timer run, the one its listing shows (it may grant less than asked).
"""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = ["LIFETIME", "MAX_LIFETIME", "due_for_renewal", "next_expiry"]

MAX_LIFETIME = timedelta(minutes=10_080)
LIFETIME = MAX_LIFETIME - timedelta(minutes=15)
_MARGIN = timedelta(days=2)


def next_expiry(now: datetime) -> datetime:
    return now + LIFETIME


def due_for_renewal(expires_at: datetime, now: datetime, lifetime: timedelta = LIFETIME) -> bool:
    """True when the subscription should be renewed on this run (also when it already expired)."""
    return expires_at - now < max(lifetime / 2, _MARGIN)


def expired(expires_at: datetime, now: datetime) -> bool:
    return expires_at <= now
