"""A person's delegated connection: its states, what the scheduling system sees of it, the events it publishes,
and how Entra's answers map onto the error codes the browser is sent back with. Pure.

    not-connected ──connect──▶ connected ──refresh refused (invalid_grant)──▶ needs-reconnect
          ▲                        ▲                                               │
          └──────── DELETE ────────┴───────────────── connect again ◀──────────────┘
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from shared.domain.rooms.outbound_events import cloud_event

__all__ = ["CONNECTED", "DELEGATED_SCOPES", "EVENT_CONNECTED", "EVENT_NEEDS_RECONNECT", "NEEDS_RECONNECT",
           "NOT_CONNECTED", "GRAPH_RESOURCE", "Connection", "allowed_return_url", "authorize_error", "connection_event",
           "entra_codes", "refusal_reason", "with_query"]

CONNECTED, NEEDS_RECONNECT, NOT_CONNECTED = "connected", "needs-reconnect", "not-connected"
EVENT_CONNECTED, EVENT_NEEDS_RECONNECT = "connection.connected", "connection.needs-reconnect"

# What section 11 needs of a person: write meetings into their calendar (invitations, Teams meetings through
# isOnlineMeeting, cancel) and read free/busy with getSchedule (Calendars.ReadWrite covers Calendars.ReadBasic
# and Calendars.Read), and read their own profile to check who signed in. MSAL adds openid, profile and
# offline_access (the refresh token) itself. Short names mean Microsoft Graph, and Entra answers with short
# names: MSAL finds a cached access token only when the names asked for are the ones it stored.
DELEGATED_SCOPES = ("Calendars.ReadWrite", "User.Read")
GRAPH_RESOURCE = "https://graph.microsoft.com"

_CONSENT_CODES = {65001, 90094, 90095}  # the user or an administrator has not consented; admin consent needed
_AADSTS = re.compile(r"AADSTS(\d+)")
_REFUSALS = {
    50173: "the refresh token was revoked (password changed or sessions revoked)",
    50133: "the refresh token was revoked after a password change",
    70043: "the refresh token expired through inactivity or a sign-in frequency policy",
    700082: "the refresh token expired through inactivity",
    700084: "the refresh token expired (single-page app lifetime)",
    50076: "multi-factor authentication is now required",
    50079: "multi-factor authentication registration is now required",
    65001: "consent to the connector was revoked",
    50057: "the account is disabled",
    50053: "the account is locked",
    530003: "a device policy now blocks access",
}


@dataclass(frozen=True)
class Connection:
    """One person's row. ``cache`` is MSAL's token cache sealed with ``TokenCipher`` (never plaintext here);
    ``mailed_for`` is the ``since`` of the breakage a reconnect mail was sent for (one mail per breakage)."""

    user: str
    state: str
    since: datetime
    reason: str = ""
    scopes: tuple[str, ...] = ()
    cache: str = field(default="", repr=False)
    account: str = ""  # MSAL's home_account_id of the person
    return_url: str = ""  # where the last connect returned (a reconnect mail's link returns there too)
    mailed_for: str = ""
    etag: str | None = None

    def status(self) -> dict[str, Any]:
        """What ``GET /api/connections/{email}`` answers."""
        return {"user": self.user, "state": self.state, "since": self.since.isoformat(),
                "reason": self.reason or None, "scopes": list(self.scopes)}


def not_connected(user: str) -> dict[str, Any]:
    return {"user": user, "state": NOT_CONNECTED, "since": None, "reason": None, "scopes": []}


def allowed_return_url(url: object, prefixes: tuple[str, ...]) -> bool:
    """Only absolute http(s) URLs that start with a configured prefix (no open redirect)."""
    if not isinstance(url, str) or len(url) > 2048 or any(c in url for c in "\r\n\\"):
        return False
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
        return False
    return any(url.startswith(prefix) for prefix in prefixes)


def with_query(url: str, params: dict[str, str]) -> str:
    """``url`` with ``params`` added to its query (existing parameters kept)."""
    parts = urlsplit(url)
    extra = urlencode(params)
    return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))


def entra_codes(description: str) -> set[int]:
    return {int(code) for code in _AADSTS.findall(description or "")}


def authorize_error(error: str, description: str) -> str:
    """The browser's error code for Entra's answer to the sign-in or the code redemption."""
    if entra_codes(description) & _CONSENT_CODES or error == "consent_required":
        return "consent_required"
    if error == "access_denied":
        return "access_denied"
    if error == "interaction_required":
        return "interaction_required"
    return "sign_in_failed"


def refusal_reason(error: str, description: str) -> str:
    """Why Entra refused a refresh token, for the status and the event: the AADSTS code and its meaning."""
    codes = sorted(entra_codes(description))
    for code in codes:
        if code in _REFUSALS:
            return f"AADSTS{code}: {_REFUSALS[code]}"
    if codes:
        return f"{error or 'invalid_grant'} (AADSTS{codes[0]})"
    return error or "invalid_grant"


def connection_event(kind: str, connection: Connection, *, source: str, now: datetime) -> dict[str, Any]:
    """``connection.connected`` / ``connection.needs-reconnect`` for the outbound channel (section 10); the id
    repeats for a redelivered change of the same breakage or connect."""
    data = {"user": connection.user, "state": connection.state, "since": connection.since.isoformat(),
            "reason": connection.reason or None}
    return cloud_event(kind, f"connection/{connection.user}", data, source=source,
                       version_key=connection.since.isoformat(), now=now)
