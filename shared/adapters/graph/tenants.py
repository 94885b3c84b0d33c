"""Graph clients of the tenants other than the default: one credential provider per tenant per process, built
on first use from the tenant's registered credential (its kind and Key Vault secret, read and followed as the
credentials capability reads the default one: ``GraphCredentialProvider``), and one msgraph client over it that
shares the process's pool and per-mailbox limiter (``GraphSession.client_for``).

A token is always requested in the tenant's own directory (``/{tenantId}/oauth2/v2.0/token``), so a mailbox of
one tenant is never written with another's token; a tenant whose credential fails raises ``CredentialUnavailable``
for its own messages only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from shared.adapters.graph.calendar import GraphCalendarGateway
from shared.adapters.graph.meetings import GraphMeetingCalendar
from shared.adapters.graph.rooms import GraphRoomReader
from shared.adapters.graph.session import GraphAdapter, GraphSession
from shared.adapters.graph.subscriptions import GraphSubscriptionGateway
from shared.adapters.identity.factory import AzureIdentityFactory
from shared.adapters.identity.graph_credential import GraphCredentialProvider
from shared.app.ports.clock import Clock
from shared.app.ports.credentials import SecretStore
from shared.app.ports.people import DelegatedCredentials, MeetingCalendar
from shared.app.ports.planning import CalendarGateway
from shared.app.ports.rooms import RoomGraph, SubscriptionGateway
from shared.config import Settings
from shared.domain.tenants.model import Tenant, TenantId
from shared.errors import ConfigurationError

__all__ = ["TenantGraphClients", "tenant_settings"]

A = TypeVar("A", bound=GraphAdapter)


def tenant_settings(settings: Settings, tenant: Tenant) -> Settings:
    """The settings as the tenant's credential sees them: its directory, its credential kind and secret name, its
    rotation policy (the settings' where it has none), no client secret from the app settings (that one is the
    default tenant's)."""
    ref = tenant.credential
    credential = settings.credential
    if ref is not None:
        before, lifetime = ref.rotation_days(credential.rotate_days_before, credential.lifetime_days)
        credential = replace(credential, kind=ref.kind,
                             client_secret_name=ref.secret_name or credential.client_secret_name,
                             certificate_name=ref.secret_name or credential.certificate_name,
                             rotate_days_before=before, lifetime_days=lifetime)
    return replace(settings, tenant_id=tenant.id, client_secret=None, credential=credential)


class _TenantCalendar(GraphCalendarGateway):
    """The calendar adapter over the tenant's msgraph client."""

    def __init__(self, session: GraphSession, client: Any) -> None:
        super().__init__(session)
        self._client = client


def _over(kind: type[A], session: GraphSession, client: Any) -> A:
    """A Graph adapter of the process's session that sends its requests through ``client`` (a tenant's)."""
    adapter = kind(session)
    adapter._client = client
    return adapter


class TenantGraphClients:
    """``TenantCalendars`` and ``TenantRoomClients``: one provider per tenant and, over it, its calendar gateway,
    meeting calendar, room reader and subscriptions gateway, built lazily, closed with the process's session."""

    def __init__(self, settings: Settings, session: GraphSession, secrets: SecretStore | None, clock: Clock,
                 delegated: Callable[[TenantId], DelegatedCredentials] | None = None) -> None:
        self._settings = settings
        self._session = session
        self._secrets = secrets
        self._clock = clock
        self._delegated = delegated
        self._providers: dict[TenantId, tuple[Tenant, GraphCredentialProvider]] = {}
        self._calendars: dict[TenantId, CalendarGateway] = {}
        self._meetings: dict[TenantId, MeetingCalendar] = {}
        self._adapters: dict[tuple[type[GraphAdapter], TenantId], GraphAdapter] = {}
        self._retired: list[GraphCredentialProvider] = []

    def provider(self, tenant: Tenant) -> GraphCredentialProvider:
        known = self._providers.get(tenant.id)
        if known is not None and known[0].credential == tenant.credential:
            return known[1]
        settings = tenant_settings(self._settings, tenant)
        provider = GraphCredentialProvider(settings, AzureIdentityFactory(settings), secrets=self._secrets,
                                           clock=self._clock)
        if known is not None:  # the credential was changed in the registry: a new provider (the old closes later)
            self._retired.append(known[1])
            self._calendars.pop(tenant.id, None)
            self._meetings.pop(tenant.id, None)
            self._adapters = {key: a for key, a in self._adapters.items() if key[1] != tenant.id}
        self._providers[tenant.id] = (tenant, provider)
        return provider

    def calendar(self, tenant: Tenant) -> CalendarGateway:
        provider = self.provider(tenant)
        calendar = self._calendars.get(tenant.id)
        if calendar is None:
            calendar = self._calendars[tenant.id] = _TenantCalendar(self._session, self._session.client_for(provider))
        return calendar

    def meetings(self, tenant: Tenant) -> MeetingCalendar:
        """The tenant's meetings: with the app's token requested for the tenant, or the organizer's connection
        (one of the tenant's people's)."""
        if self._delegated is None:
            raise ConfigurationError("tenants", "no delegated connections to write meetings with")
        provider = self.provider(tenant)
        meetings = self._meetings.get(tenant.id)
        if meetings is None:
            meetings = self._meetings[tenant.id] = GraphMeetingCalendar(
                self._session, self._delegated(tenant.id), app_client=self._session.client_for(provider))
        return meetings

    def _adapter(self, kind: type[A], tenant: Tenant) -> A:
        provider = self.provider(tenant)
        adapter = self._adapters.get((kind, tenant.id))
        if adapter is None:
            adapter = self._adapters[(kind, tenant.id)] = _over(kind, self._session, self._session.client_for(provider))
        assert isinstance(adapter, kind)
        return adapter

    def room_graph(self, tenant: Tenant) -> RoomGraph:
        """The tenant's rooms and watched organizers read with a token requested for the tenant."""
        return self._adapter(GraphRoomReader, tenant)

    def subscriptions(self, tenant: Tenant) -> SubscriptionGateway:
        """The tenant's subscriptions: made, renewed, listed and deleted with a token requested for the tenant
        (Graph lists an app's subscriptions per tenant)."""
        return self._adapter(GraphSubscriptionGateway, tenant)

    async def close(self) -> None:
        providers = [p for _, p in self._providers.values()] + self._retired
        self._providers, self._calendars, self._meetings, self._retired = {}, {}, {}, []
        self._adapters = {}
        for provider in providers:
            await provider.close()
