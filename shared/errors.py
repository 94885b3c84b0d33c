"""The connector's exception tree; adapters map SDK errors onto it, handlers never see SDK types.

    ConnectorError
    ├── ConfigurationError     a setting is missing or malformed: fail at start, naming the setting
    ├── TransientError         worth retrying: the message is redelivered
    │   ├── Throttled          429/503 with an optional Retry-After: the queue does the waiting
    │   ├── ConcurrencyConflict another writer changed the mapping row (ETag mismatch)
    │   ├── CredentialUnavailable no working Graph credential (expired, revoked, vault unreachable):
    │   │                      the worker defers its messages instead of spending their deliveries
    │   └── NeedsReconnect     a person's delegated connection is missing or refused (invalid_grant): that
    │                          person's work waits until they reconnect, never dead-lettered for this reason
    ├── PermanentError         retrying cannot help: dead-lettered at once with the reason
    │   ├── InvalidMessage     the message does not meet the event contract
    │   ├── UnknownMailbox     Graph does not know the resource's mailbox
    │   ├── Forbidden          401/403 that a fresh token does not cure (access policy, consent)
    │   ├── RejectedByGraph    400-class answer to a well-formed request
    │   └── RejectedByQueue    the queue refuses the message as it is (a Service Bus limit: size, id length, session)
    ├── NotFound               the Graph object is gone (a delete that meets it counts as done)
    └── NotSignedIn            an operator request without a valid Entra access token (answered 401)
"""

from __future__ import annotations

__all__ = [
    "ConcurrencyConflict",
    "ConfigurationError",
    "ConnectorError",
    "CredentialUnavailable",
    "Forbidden",
    "InvalidMessage",
    "NeedsReconnect",
    "NotFound",
    "NotSignedIn",
    "PermanentError",
    "RejectedByGraph",
    "RejectedByQueue",
    "Throttled",
    "TransientError",
    "UnknownMailbox",
]


class ConnectorError(Exception):
    """Base of every error the connector raises on purpose."""


class ConfigurationError(ConnectorError):
    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"setting {setting}: {problem}")
        self.setting = setting
        self.problem = problem


class TransientError(ConnectorError):
    """Retry later; the message is redelivered until the delivery budget is spent."""


class Throttled(TransientError):
    """Wait ``retry_after`` seconds. ``refused``: the request was turned away before it was acted on (a 429, or
    the connector's own pacing held it back), so it wrote nothing; a 503/504 may come after the write was done."""

    def __init__(self, message: str, *, retry_after: float | None = None, refused: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.refused = refused


class ConcurrencyConflict(TransientError):
    """Optimistic concurrency lost: reload and replan on the next delivery."""


class CredentialUnavailable(TransientError):
    """No credential can obtain a Graph token now; the reason names the fix and never a secret value."""


class NeedsReconnect(TransientError):
    """``user``'s delegated connection cannot give a token until the person signs in again; ``reason`` is what
    Entra said (an AADSTS code and its meaning), never a token."""

    def __init__(self, user: str, reason: str) -> None:
        super().__init__(f"the connection of {user} needs the person to reconnect: {reason}")
        self.user = user
        self.reason = reason


class PermanentError(ConnectorError):
    """Dead-letter with this message as the reason an operator reads."""


class InvalidMessage(PermanentError):
    pass


class UnknownMailbox(PermanentError):
    pass


class Forbidden(PermanentError):
    pass


class RejectedByGraph(PermanentError):
    pass


class RejectedByQueue(PermanentError):
    """Sending the same message again cannot succeed; ``limit`` names the rule it broke."""

    def __init__(self, message: str, *, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


class NotFound(ConnectorError):
    pass


class NotSignedIn(ConnectorError):
    """The request carries no access token the connector accepts; ``reason`` says why, never the token."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
