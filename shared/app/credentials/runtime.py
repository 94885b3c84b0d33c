"""Composition of the credential features: built from settings with no network, adapters on first use.

``bootstrap`` keeps one ``CredentialRuntime`` in ``Services``; the process's Graph session, rotation, the
status endpoint and the doctor all use its ``provider``, so a rotation is followed everywhere at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.adapters.identity.factory import AzureIdentityFactory, CredentialFactory, IdentityTokenProbe
from shared.adapters.identity.graph_credential import GraphCredentialProvider
from shared.app.credentials.health import WorkerPause
from shared.app.ports.credentials import (
    ApplicationGateway,
    CredentialStateStore,
    RotationLease,
    SecretStore,
    TokenProbe,
)
from shared.config import Settings
from shared.domain.credentials.policy import RotationPolicy

if TYPE_CHECKING:
    from shared.adapters.graph.session import GraphSession

__all__ = ["CredentialRuntime", "build_credential_runtime"]

WEBHOOK_SECRET_TTL = timedelta(minutes=5)


@dataclass
class CredentialRuntime:
    settings: Settings
    provider: GraphCredentialProvider
    secrets: SecretStore | None
    applications_factory: Callable[[], ApplicationGateway]
    probe: TokenProbe
    lease: RotationLease
    state: CredentialStateStore
    clock: Callable[[], datetime]
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    # How long rotation waits for a new credential to work everywhere (Entra replication).
    propagation_timeout: timedelta = timedelta(minutes=5)
    pause: WorkerPause = field(default_factory=WorkerPause)
    _applications: ApplicationGateway | None = field(default=None, repr=False)
    _owned: list[Any] = field(default_factory=list, repr=False)
    _webhook_secret: tuple[str, datetime] | None = field(default=None, repr=False)

    @property
    def policy(self) -> RotationPolicy:
        credential = self.settings.credential
        return RotationPolicy(days_before=credential.rotate_days_before, lifetime_days=credential.lifetime_days,
                              grace_hours=credential.grace_hours)

    async def outbound_webhook_secret(self) -> str | None:
        """The booking-system webhook's signing secret, read from the vault like the Graph secret (newest
        enabled, unexpired version, cached for a few minutes, so a rotation is followed without a restart);
        ``CONNECTOR_OUTBOUND_WEBHOOK_SECRET`` when there is no vault."""
        if self.secrets is None:
            return self.settings.rooms.outbound_webhook_secret
        now = self.clock()
        cached = self._webhook_secret
        if cached is None or now - cached[1] >= WEBHOOK_SECRET_TTL:
            version = await self.secrets.current(self.settings.credential.outbound_webhook_secret_name, now)
            cached = self._webhook_secret = (version.value, now)
        return cached[0]

    def applications(self) -> ApplicationGateway:
        if self._applications is None:
            self._applications = self.applications_factory()
        return self._applications

    async def close(self) -> None:
        for closer in (self._applications, self.provider, self.secrets, *self._owned):
            if closer is not None:
                await closer.close()
        self._applications = None
        self._owned.clear()


def build_credential_runtime(settings: Settings, *, tables: Any = None, clock: Callable[[], datetime],
                             secrets: SecretStore | None = None, factory: CredentialFactory | None = None,
                             applications: ApplicationGateway | None = None, probe: TokenProbe | None = None,
                             lease: RotationLease | None = None, state: CredentialStateStore | None = None,
                             graph_session: Callable[[], GraphSession] | None = None) -> CredentialRuntime:
    """Real adapters for every part left as None; ``tables`` is the TableStores the lease and state use;
    ``graph_session`` gives the process's Graph session, whose connections and per-mailbox limiter the
    applications adapter then shares."""
    factory = factory or AzureIdentityFactory(settings)
    vault = settings.credential.key_vault_url
    if secrets is None and vault:
        from shared.adapters.keyvault import KeyVaultSecretStore

        secrets = KeyVaultSecretStore(vault, managed_identity_client_id=settings.managed_identity_client_id,
                                      ca_file=settings.ca_file)
    provider = GraphCredentialProvider(settings, factory, secrets=secrets, clock=clock)
    owned: list[Any] = []
    if lease is None or state is None:
        if tables is None:
            from shared.adapters.tables.stores import TableStores

            tables = TableStores(settings)
            owned.append(tables)
        from shared.adapters.tables.credentials import TableCredentialStateStore, TableRotationLease

        lease = lease or TableRotationLease(tables)
        state = state or TableCredentialStateStore(tables)

    def applications_factory() -> ApplicationGateway:
        if applications is not None:
            return applications
        from shared.adapters.graph.applications import GraphApplicationGateway

        return GraphApplicationGateway(settings, provider, http=graph_session().http if graph_session else None)

    return CredentialRuntime(settings=settings, provider=provider, secrets=secrets,
                             applications_factory=applications_factory,
                             probe=probe or IdentityTokenProbe(settings, factory), lease=lease, state=state,
                             clock=clock, _owned=owned)
