"""Change-notification subscriptions: the resource, its rules on create/renew, and the validation
handshake Graph performs against notificationUrl and lifecycleNotificationUrl before creating one.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from . import eventgrid
from .errors import GraphError
from .events import fmt_ts
from .zones import parse_instant

MAX_MINUTES = 10_080  # Outlook events (facts.md 3.1)
MIN_MINUTES = 45
VALIDATION_TIMEOUT = 10.0
CHANGE_TYPES = {"created", "updated", "deleted"}
_RESOURCE = re.compile(r"/?users/(?P<u>[^/]+)(?:/calendar)?/events/?", re.I)


@dataclass
class Subscription:
    id: str
    resource: str
    mailbox_id: str
    application_id: str
    tenant_id: str
    creator_id: str
    change_types: list[str]
    client_state: str | None
    notification_url: str
    lifecycle_url: str | None
    expiration: datetime
    tls_version: str = "v1_2"
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    def expired(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(UTC)) >= self.expiration

    def public(self) -> dict[str, Any]:
        """Graph's subscription JSON (clientState included: Graph echoes it to its creator)."""
        return {
            "id": self.id, "resource": self.resource, "applicationId": self.application_id,
            "changeType": ",".join(self.change_types), "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": fmt_ts(self.expiration), "creatorId": self.creator_id,
            "latestSupportedTlsVersion": self.tls_version, "encryptionCertificate": None,
            "encryptionCertificateId": None, "includeResourceData": False,
            "notificationContentType": "application/json",
        }


def _bad(message: str, code: str = "InvalidRequest") -> GraphError:
    return GraphError(400, code, message)


def check_url(url: Any, name: str) -> str:
    """HTTPS, or plain http to loopback only (design.md section 10: the local function host), or an Event Grid
    partner topic (``EventGrid:?...``, see eventgrid.py)."""
    if not isinstance(url, str) or not url:
        raise _bad(f"{name} is required.")
    if eventgrid.is_event_grid(url):
        eventgrid.parse(url, name)
        return url
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and _loopback(host):
        return url
    raise _bad(f"The {name} must be an https URL (graphsim also accepts http to loopback).")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_expiration(value: Any, now: datetime) -> datetime:
    if not value:
        raise _bad("expirationDateTime is required.")
    try:
        when = parse_instant(str(value))
    except GraphError as exc:
        raise _bad(f"expirationDateTime '{value}' is not a valid date.") from exc
    if when > now + timedelta(minutes=MAX_MINUTES):
        raise _bad(f"Subscription expiration can only be {MAX_MINUTES} minutes in the future.",
                   "ExtensionError")
    if when <= now:
        raise _bad("Subscription expiration must be in the future.", "ExtensionError")
    # Graph raises short expiries to its minimum rather than refusing them.
    return max(when, now + timedelta(minutes=MIN_MINUTES))


def parse_create(body: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Checked fields of a POST /subscriptions body (everything but the mailbox lookup)."""
    kinds = [k.strip() for k in str(body.get("changeType") or "").split(",") if k.strip()]
    if not kinds or any(k not in CHANGE_TYPES for k in kinds):
        raise _bad("changeType must be a comma separated list of created, updated, deleted.")
    resource = str(body.get("resource") or "")
    m = _RESOURCE.fullmatch(resource)
    if not m:
        raise _bad(f"graphsim supports subscriptions to /users/{{id}}/events only, not "
                   f"'{resource}'.", "ExtensionError")
    client_state = body.get("clientState")
    if client_state is not None and len(str(client_state)) > 128:
        raise _bad("clientState must be at most 128 characters.")
    lifecycle = body.get("lifecycleNotificationUrl")
    return {
        "change_types": kinds, "resource": resource, "mailbox": m.group("u"),
        "client_state": None if client_state is None else str(client_state),
        "notification_url": check_url(body.get("notificationUrl"), "notificationUrl"),
        "lifecycle_url": check_url(lifecycle, "lifecycleNotificationUrl") if lifecycle else None,
        "expiration": check_expiration(body.get("expirationDateTime"), now),
        "tls_version": str(body.get("latestSupportedTlsVersion") or "v1_2"),
    }


def new_id() -> str:
    return str(uuid.uuid4())


async def validate_endpoint(url: str, timeout: float = VALIDATION_TIMEOUT) -> None:
    """POST ?validationToken=... as Graph does; the endpoint must echo it decoded, in text/plain."""
    # Graph's real token is a sentence with spaces and a colon, so a receiver that echoes it
    # still URL-encoded fails here just as it would against Graph.
    token = f"Validation: Testing client application reachability for subscription Request-Id: " \
            f"{uuid.uuid4()}"
    failure = ("Subscription validation request failed. Notification endpoint must respond with "
               "200 OK to validation request.")
    target = httpx.URL(url).copy_merge_params({"validationToken": token})
    try:
        # Direct, as Graph connects: no proxy from the environment.
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
            response = await client.post(
                target, content=b"", headers={"Content-Type": "text/plain; charset=utf-8"})
    except httpx.HTTPError as exc:
        raise GraphError(400, "ValidationError", f"{failure} ({type(exc).__name__})") from exc
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if response.status_code != 200:
        raise GraphError(400, "ValidationError", f"{failure} (HTTP {response.status_code})")
    if content_type != "text/plain" or response.text != token:
        raise GraphError(400, "ValidationError", "Subscription validation request failed. "
                         "Response must exactly match validationToken query parameter.")
