"""What follows a connection's change of state, wherever it happens (the callback, a refused refresh):
the row written under its ETag, the outbound event, parked work released or a reconnect mail sent (once per
breakage), and the ``connector.connections.needs_reconnect`` gauge told again."""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from shared.app.messaging import WaitingWork
from shared.app.ports.clock import Clock
from shared.app.ports.people import ConnectAttempts, ConnectionStore, ReconnectMailer, TokenAuthority
from shared.app.ports.telemetry import Telemetry
from shared.app.ports.tenants import TenantLookup
from shared.app.rooms.publisher import PublisherDeps, publish
from shared.config import Settings
from shared.domain.people.cipher import TokenCipher
from shared.domain.people.connections import (
    CONNECTED,
    EVENT_CONNECTED,
    EVENT_NEEDS_RECONNECT,
    NEEDS_RECONNECT,
    Connection,
    connection_event,
)
from shared.domain.people.signing import SignedToken
from shared.domain.tenants.keys import tenant_key, tenant_of_key
from shared.domain.tenants.model import TenantId
from shared.errors import ConcurrencyConflict, ConfigurationError, ConnectorError, NotFound, TransientError

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

__all__ = ["PeopleDeps", "record_broken", "record_connected", "tell_gauge"]

logger = logging.getLogger(__name__)

CALLBACK_PATH = "/api/connections/callback"
RECONNECT_PATH = "/api/connections/reconnect"
RECONNECT_LINK_LIFETIME = timedelta(days=14)
_ATTEMPTS = 8


@dataclass(frozen=True)
class PeopleDeps:
    settings: Settings
    connections: ConnectionStore
    attempts: ConnectAttempts
    authority: TokenAuthority
    waiting: WaitingWork
    publisher: PublisherDeps
    mailer: ReconnectMailer | None
    clock: Clock
    telemetry: Telemetry
    # The people of one tenant (``shared/app/people/tenancy.py``): None is the default tenant.
    tenant: TenantId | None = None
    tenants: TenantLookup | None = None  # the registered tenants (None: the default tenant only)
    authorities: Callable[[TenantId], TokenAuthority] | None = None  # Entra for another tenant's people

    def parked_as(self, user: str) -> str:
        """The key ``user``'s work is parked under (``NeedsReconnect.user``): scoped to the tenant."""
        return tenant_key(self.tenant, user)

    def _keys(self) -> tuple[bytes, ...]:
        keys = self.settings.people.token_keys
        if not keys:
            raise ConfigurationError("CONNECTOR_TOKEN_ENCRYPTION_KEY",
                                     "is required to connect people (32 random bytes in base64)")
        return keys

    def cipher(self) -> TokenCipher:
        return TokenCipher(self._keys())

    def state_signer(self) -> SignedToken:
        return SignedToken(self._keys(), "connect state")

    def link_signer(self) -> SignedToken:
        return SignedToken(self._keys(), "reconnect link")

    @property
    def redirect_uri(self) -> str:
        return self.settings.rooms.public_base_url + CALLBACK_PATH

    @property
    def source(self) -> str:
        return f"urn:m365-calendar-connector:{self.tenant or self.settings.tenant_id or 'local'}:connections"


async def record_connected(connection: Connection, deps: PeopleDeps) -> Connection:
    """Store a fresh connection (whatever the row held), publish ``connection.connected`` and send the person's
    parked work back onto its queues."""
    for _ in range(_ATTEMPTS):
        current = await deps.connections.get(connection.user)
        try:
            saved = await deps.connections.save(replace(connection, etag=current.etag if current else None))
            break
        except (ConcurrencyConflict, NotFound):
            continue
    else:
        raise TransientError(f"connection of {connection.user}: too many concurrent writes")
    await publish([connection_event(EVENT_CONNECTED, saved, source=deps.source, now=deps.clock())], deps.publisher)
    released = await deps.waiting.release(saved.user)
    logger.info("connection of %s connected; %d waiting messages released", saved.user, released)
    await tell_gauge(deps)
    return saved


async def record_broken(user: str, reason: str, deps: PeopleDeps, *, seen: Connection | None = None) -> None:
    """Mark ``user``'s connection needs-reconnect (once: a second instance finding the same refusal changes
    nothing), publish ``connection.needs-reconnect`` and mail the person once for this breakage."""
    for _ in range(_ATTEMPTS):
        current = seen if seen is not None else await deps.connections.get(user)
        seen = None
        if current is None or current.state != CONNECTED:
            return  # forgotten, or already marked by another instance (which published and mailed)
        since = deps.clock()
        # Whoever writes the breakage mails for it: the mark is in the same conditional write.
        broken = replace(current, state=NEEDS_RECONNECT, since=since, reason=reason,
                         mailed_for=since.isoformat() if _mails(deps) else current.mailed_for)
        try:
            broken = await deps.connections.save(broken)
            break
        except (ConcurrencyConflict, NotFound):
            continue  # the row changed (a refresh written, or a reconnect): look again
    else:
        raise TransientError(f"connection of {user}: too many concurrent writes")
    logger.warning("connection of %s needs the person to reconnect: %s", user, reason)
    await publish([connection_event(EVENT_NEEDS_RECONNECT, broken, source=deps.source, now=deps.clock())],
                  deps.publisher)
    await _mail(broken, deps)
    await tell_gauge(deps)


def _mails(deps: PeopleDeps) -> bool:
    return bool(deps.settings.people.reconnect_mail_from) and deps.mailer is not None


async def _mail(connection: Connection, deps: PeopleDeps) -> None:
    sender = deps.settings.people.reconnect_mail_from
    if not sender or deps.mailer is None:
        return
    link = reconnect_link(connection.user, deps)
    body = (f"<p>The calendar connector can no longer act for {html.escape(connection.user)}: "
            f"{html.escape(connection.reason)}.</p><p><a href=\"{html.escape(link)}\">Connect your calendar again</a>"
            "</p><p>Appointments waiting for you are written as soon as you have.</p>")
    try:
        await deps.mailer.send(sender, connection.user, "Please connect your calendar again", body)
        logger.info("reconnect mail sent to %s", connection.user)
    except ConnectorError as exc:
        logger.warning("reconnect mail to %s not sent: %s", connection.user, exc)


def reconnect_link(user: str, deps: PeopleDeps, now: datetime | None = None) -> str:
    """A link that starts the connect flow again for ``user`` (signed, valid two weeks)."""
    claims = {"u": user, "t": deps.tenant} if deps.tenant else {"u": user}
    token = deps.link_signer().sign(claims, expires=(now or deps.clock()) + RECONNECT_LINK_LIFETIME)
    return f"{deps.settings.rooms.public_base_url}{RECONNECT_PATH}?token={token}"


async def tell_gauge(deps: PeopleDeps) -> int:
    """Count the connections of ``deps``' tenant that need a reconnect and tell
    ``connector.connections.needs_reconnect`` under that tenant (each tenant has its own figure)."""
    try:
        # The default tenant's store holds every tenant's rows; another tenant's view holds its own only.
        count = sum(1 for c in await deps.connections.list()
                    if c.state == NEEDS_RECONNECT and (deps.tenant is not None or tenant_of_key(c.user)[0] is None))
    except ConnectorError as exc:
        logger.warning("needs-reconnect gauge not told: %s", exc)
        return -1
    with deps.telemetry.for_tenant(deps.tenant):
        deps.telemetry.connections_needing_reconnect(count)
    return count
