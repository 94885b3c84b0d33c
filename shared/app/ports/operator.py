"""What the doctor and the status need from outside to check a deployment: one probe per service it depends
on, and the queues' depths. Adapters implement it (``shared.adapters.health``); unit tests use fakes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["HealthProbes", "MailboxAnswer", "OperatorAuth", "Principal", "QueueStats"]


@dataclass(frozen=True)
class MailboxAnswer:
    """Graph's answer to reading one event of a mailbox's calendar.

    ``status``: the HTTP status, None when Graph could not be reached; ``code``: Graph's error code (empty
    on success), or the transport error's name when Graph could not be reached."""

    status: int | None
    code: str = ""


@dataclass(frozen=True)
class QueueStats:
    """One queue's depth. ``active``: messages waiting or in flight (Service Bus's active count);
    ``oldest_age_seconds``: the age of the oldest active message, None when there is none or the queue
    does not say (Service Bus keeps it behind session locks)."""

    queue: str
    active: int
    dead_lettered: int
    scheduled: int
    oldest_age_seconds: float | None = None


class HealthProbes(Protocol):
    async def table_storage(self) -> None:
        """Read Table Storage once. Raises when it cannot be read (the reason is the doctor's detail)."""
        ...

    async def queue(self) -> None:
        """Reach the queue the app sends to, sending nothing. Raises when it cannot."""
        ...

    async def mailbox(self, mailbox: str, token: str) -> MailboxAnswer:
        """Read one event of ``mailbox``'s calendar with ``token``, through the process's Graph session (its
        per-mailbox limiter counts the request). Never raises for Graph's answer or its absence."""
        ...

    async def queue_stats(self) -> list[QueueStats]:
        """The depth of each of the connector's queues (empty when the queue adapter cannot tell). Raises
        when the queue cannot be read."""
        ...

@dataclass(frozen=True)
class Principal:
    """Who an operator request comes from, as the access token says: ``subject`` is the object id of the user
    or service principal, ``name`` the user's sign-in name or the calling app's client id."""

    subject: str
    name: str
    roles: frozenset[str]


class OperatorAuth(Protocol):
    async def verify(self, authorization: str | None) -> Principal:
        """Check the request's ``Authorization`` header: a bearer access token of the connector's tenant, for the
        connector's API, signed by the tenant's keys and in its lifetime. Raises ``NotSignedIn`` (with the reason)
        when it is not; ``TransientError`` when the signing keys cannot be fetched."""
        ...
