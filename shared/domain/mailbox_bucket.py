"""A mailbox's telemetry bucket: a stable hash bucket (0–63) of its address, so metrics tell mailboxes apart
(throttling is per mailbox) without naming any."""

from __future__ import annotations

import hashlib

__all__ = ["MAILBOX_BUCKETS", "mailbox_bucket"]

MAILBOX_BUCKETS = 64


def mailbox_bucket(mailbox: str) -> int:
    """The same bucket for the same address, whatever its case, in every process and release."""
    digest = hashlib.sha256(mailbox.strip().lower().encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % MAILBOX_BUCKETS
