"""The credential use cases' ports (rotation, the status endpoint, the doctor), and the outbound webhook's
signing secret read from the vault. ``shared.bootstrap`` builds both; the process's Graph session signs with
the same ``provider``, so a rotation is followed everywhere at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.app.ports.clock import Clock
from shared.app.ports.credentials import (
    ApplicationGateway,
    CredentialProvider,
    CredentialStateStore,
    RotationLease,
    SecretStore,
    TokenProbe,
)
from shared.app.ports.telemetry import NO_TELEMETRY, Telemetry
from shared.config import Settings
from shared.domain.credentials.policy import RotationPolicy
from shared.domain.tenants.keys import tenant_key

__all__ = ["LEASE_NAME", "CredentialRuntime", "OutboundWebhookSecret", "WEBHOOK_SECRET_TTL"]

WEBHOOK_SECRET_TTL = timedelta(minutes=5)
LEASE_NAME = "graph-credential"  # the default tenant's rotation lease; another tenant's is keyed by it


@dataclass
class CredentialRuntime:
    settings: Settings
    provider: CredentialProvider
    secrets: SecretStore | None  # None: the credential is an app setting (or federated), not in a vault
    applications: ApplicationGateway
    probe: TokenProbe
    lease: RotationLease
    state: CredentialStateStore
    clock: Clock
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    # How long rotation waits for a new credential to work everywhere (Entra replication).
    propagation_timeout: timedelta = timedelta(minutes=5)
    telemetry: Telemetry = NO_TELEMETRY
    # Whose credential this is: None for the default tenant (the settings'), else a registered tenant's, rotated
    # under its own lease and recorded in its own state row (``tenant_key(tenant, ...)``).
    tenant: str | None = None

    @property
    def lease_name(self) -> str:
        return tenant_key(self.tenant, LEASE_NAME)

    @property
    def policy(self) -> RotationPolicy:
        credential = self.settings.credential
        return RotationPolicy(days_before=credential.rotate_days_before, lifetime_days=credential.lifetime_days,
                              grace_hours=credential.grace_hours)


@dataclass
class OutboundWebhookSecret:
    """The booking-system webhook's signing secret, read from the vault like the Graph secret (newest
    enabled, unexpired version, cached for a few minutes, so a rotation is followed without a restart);
    ``CONNECTOR_OUTBOUND_WEBHOOK_SECRET`` when there is no vault."""

    settings: Settings
    secrets: SecretStore | None
    clock: Clock
    _cached: tuple[str, datetime] | None = field(default=None, repr=False)

    async def __call__(self) -> str | None:
        if self.secrets is None:
            return self.settings.rooms.outbound_webhook_secret
        now = self.clock()
        cached = self._cached
        if cached is None or now - cached[1] >= WEBHOOK_SECRET_TTL:
            version = await self.secrets.current(self.settings.credential.outbound_webhook_secret_name, now)
            cached = self._cached = (version.value, now)
        return cached[0]
