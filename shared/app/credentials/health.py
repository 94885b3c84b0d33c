"""The workers' view of credential health: paused (messages deferred, none dead-lettered) or running.

One clear log line per minute at most while paused, and the same fact in the shared state so the status
endpoint of any instance shows it. Nothing is read or written on the normal path.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.app.ports.credentials import CredentialStateStore
from shared.errors import ConnectorError

__all__ = ["CredentialHealth", "LOG_INTERVAL", "WorkerPause"]

logger = logging.getLogger(__name__)

LOG_INTERVAL = timedelta(minutes=1)


@dataclass
class WorkerPause:
    """In-memory, per instance."""

    since: datetime | None = None
    last_logged: datetime | None = None
    last_cleared: datetime | None = None


@dataclass(frozen=True)
class CredentialHealth:
    """Told by the settle policy (``shared.app.messaging.Settlement``) when a message waits for a working
    credential and when one goes through again."""

    state: CredentialStateStore
    pause: WorkerPause = field(default_factory=WorkerPause)
    # The other tenants' pauses, by tenant (in memory, per instance): one tenant's failing credential is its
    # own pause, never the default tenant's shared state (what the status endpoint shows as paused).
    tenant_pauses: dict[str, WorkerPause] = field(default_factory=dict)
    default_tenant: str | None = None

    def _other(self, tenant: str | None) -> bool:
        return tenant is not None and tenant != (self.default_tenant or "").strip().lower()

    def paused(self, tenant: str | None = None) -> datetime | None:
        """Since when this instance defers the tenant's messages (None: it does not)."""
        return (self.tenant_pauses.get(tenant or "", WorkerPause()) if self._other(tenant) else self.pause).since

    async def deferred(self, reason: str, now: datetime, tenant: str | None = None) -> None:
        if self._other(tenant):
            assert tenant is not None
            pause = self.tenant_pauses.setdefault(tenant, WorkerPause())
            pause.since = pause.since or now
            if pause.last_logged is None or now - pause.last_logged >= LOG_INTERVAL:
                pause.last_logged = now
                logger.error("tenant %s paused since %s: no working Graph credential (%s). Its events are "
                             "deferred; other tenants are not affected.", tenant,
                             pause.since.isoformat(timespec="seconds"), reason)
            return
        pause = self.pause
        if pause.since is None:
            pause.since = now
        pause.last_cleared = None
        if pause.last_logged is not None and now - pause.last_logged < LOG_INTERVAL:
            return
        pause.last_logged = now
        logger.error("sync paused since %s: no working Graph credential (%s). Planning events are deferred, not "
                     "dead-lettered, and resume by themselves once a working credential is in place.",
                     pause.since.isoformat(timespec="seconds"), reason)
        try:
            await self.state.update(unavailable_since=pause.since, unavailable_reason=reason, available_at=None)
        except ConnectorError as exc:
            logger.warning("could not record the pause in the credential state: %s", exc)

    async def resumed(self, now: datetime, tenant: str | None = None) -> None:
        """A deferred message went through: the credential works again (at most one write a minute)."""
        if self._other(tenant):
            assert tenant is not None
            if self.tenant_pauses.pop(tenant, None) is not None:
                logger.warning("tenant %s resumed: a working Graph credential is back", tenant)
            return
        pause = self.pause
        if pause.last_cleared is not None and now - pause.last_cleared < LOG_INTERVAL:
            return
        if pause.since is not None:
            logger.warning("sync resumed: a working Graph credential is back (paused since %s)",
                           pause.since.isoformat(timespec="seconds"))
        pause.since, pause.last_logged, pause.last_cleared = None, None, now
        try:
            await self.state.update(unavailable_since=None, unavailable_reason=None, available_at=now)
        except ConnectorError as exc:
            logger.warning("could not record the resume in the credential state: %s", exc)
