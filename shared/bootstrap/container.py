"""The container: every adapter as a ``Lazy`` built from the settings, and each use case's dependencies.

A trigger asks for one use case's dependencies (``container.sync()``, ``container.intake()`` ...) and gets
a frozen dataclass of typed ports; only the adapters those ports need are built (once per container). Tests
pass fakes for any port; a port left as None gets the real adapter.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol, TypeVar

import shared.bootstrap.adapters as adapters
from shared.app.credentials.health import CredentialHealth, WorkerPause
from shared.app.credentials.runtime import CredentialRuntime, OutboundWebhookSecret
from shared.app.credentials.tenants import TenantCredentialDeps
from shared.app.messaging import MessageQueue, Settlement, TracedQueue
from shared.app.operator.breakers import BreakerOperatorDeps
from shared.app.operator.deadletters import OperatorDeps
from shared.app.operator.doctor import DoctorDeps
from shared.app.operator.drift import DriftRunDeps
from shared.app.operator.gauges import GaugeDeps
from shared.app.people.appointments import AppointmentDeps
from shared.app.people.availability import AvailabilityDeps
from shared.app.people.delegated import StoredDelegatedCredentials
from shared.app.people.lifecycle import PeopleDeps
from shared.app.people.organizers import OrganizerDeps
from shared.app.people.tenancy import ParkedWork, people_in
from shared.app.people.watching import WatchDeps
from shared.app.planning.breaker import BreakerDeps
from shared.app.planning.drift import DriftDeps
from shared.app.planning.ingest import IngestDeps
from shared.app.planning.sync import SyncDeps
from shared.app.ports.availability import ScheduleReader
from shared.app.ports.breakers import BreakerStore
from shared.app.ports.clock import Clock
from shared.app.ports.credentials import CredentialProvider, CredentialStateStore, SecretStore
from shared.app.ports.operator import HealthProbes, OperatorAuth
from shared.app.ports.people import DelegatedCredentials, MeetingCalendar, ReconnectMailer, TokenAuthority
from shared.app.ports.planning import (
    CalendarGateway,
    DeadLetterStore,
    DriftReportStore,
    MappingStore,
    ResourceStore,
    TenantCalendars,
)
from shared.app.ports.rooms import RoomGraph, SubscriptionGateway, TenantRoomClients, WebhookSender
from shared.app.ports.telemetry import Telemetry
from shared.app.ports.tenants import PurgeableStore, TenantLookup, TenantRegistryStore
from shared.app.rooms.intake import IntakeDeps
from shared.app.rooms.publisher import PublisherDeps
from shared.app.rooms.registration import RegistrationDeps
from shared.app.rooms.subscriptions import SubscriptionDeps
from shared.app.rooms.upkeep import UpkeepDeps
from shared.app.rooms.worker import WorkerDeps
from shared.app.tenants.directory import RegisteredTenants
from shared.app.tenants.registry import TenantDeps
from shared.app.tenants.routing import CachedTenants
from shared.bootstrap.adapters import OrganizerStores, PeopleStores, RoomStores
from shared.bootstrap.lazy import Lazy
from shared.config import Settings
from shared.domain.planning.coalesce import Recent
from shared.domain.tenants.model import Tenant, TenantId

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Container", "utcnow"]

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


async def _no_rows() -> list[Tenant]:
    return []


class TenantClients(TenantCalendars, TenantRoomClients, Protocol):
    """Every Graph client of a tenant other than the default (``shared.adapters.graph.tenants``)."""

    def provider(self, tenant: Tenant) -> CredentialProvider: ...


class _OnFirstUse:
    """``TenantClients`` built when a message of another tenant than the default first needs one."""

    def __init__(self, lazy: Lazy[TenantClients]) -> None:
        self._lazy = lazy

    def calendar(self, tenant: Tenant) -> CalendarGateway:
        return self._lazy().calendar(tenant)

    def meetings(self, tenant: Tenant) -> MeetingCalendar:
        return self._lazy().meetings(tenant)

    def room_graph(self, tenant: Tenant) -> RoomGraph:
        return self._lazy().room_graph(tenant)

    def subscriptions(self, tenant: Tenant) -> SubscriptionGateway:
        return self._lazy().subscriptions(tenant)


class Container:
    """One per event loop in the Functions worker (the SDKs' connections belong to the loop that opened them)."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None, queue: MessageQueue | None = None,
                 mappings: MappingStore | None = None, resources: ResourceStore | None = None,
                 deadletters: DeadLetterStore | None = None, calendar: CalendarGateway | None = None,
                 room_stores: RoomStores | None = None, room_graph: RoomGraph | None = None,
                 subscriptions: SubscriptionGateway | None = None, webhook: WebhookSender | None = None,
                 credentials: CredentialRuntime | None = None, credential_state: CredentialStateStore | None = None,
                 dropped: Counter[str] | None = None, health: HealthProbes | None = None,
                 telemetry: Telemetry | None = None, breakers: BreakerStore | None = None,
                 operator_auth: OperatorAuth | None = None, drift_reports: DriftReportStore | None = None,
                 meetings: MeetingCalendar | None = None, delegated: DelegatedCredentials | None = None,
                 tenant_store: TenantRegistryStore | None = None,
                 organizer_stores: OrganizerStores | None = None,
                 people_stores: PeopleStores | None = None, waiting: ParkedWork | None = None,
                 token_authority: TokenAuthority | None = None, mailer: ReconnectMailer | None = None,
                 schedules: ScheduleReader | None = None,

                 tenant_calendars: TenantClients | None = None,
                 tenant_credential_state: Callable[[TenantId], CredentialStateStore] | None = None) -> None:
        self.settings = settings
        # Spans and metrics (OpenTelemetry; no-op until configure_exporters sets the providers).
        self.telemetry: Telemetry = telemetry or adapters.telemetry(settings)
        self.clock: Clock = clock or utcnow
        # Notifications dropped by this instance since it started, by reason (never their clientState).
        self.dropped: Counter[str] = Counter() if dropped is None else dropped
        self._opened: list[Lazy[object]] = []
        self._pause = WorkerPause()
        # The process's memory of entities for coalescing (what planning events it has put off, and when).
        self.recent = Recent(timedelta(milliseconds=settings.coalesce_window_ms),
                             timedelta(milliseconds=settings.coalesce_max_ms))
        self._tenant_pauses: dict[str, WorkerPause] = {}
        self._tables = self._lazy(lambda: adapters.table_stores(settings))
        self._queue = self._port(queue, lambda: adapters.queue(settings))
        # Every message sent carries the current trace context (the sender's span) to its consumer.
        self.queue: Lazy[MessageQueue] = self._lazy(lambda: TracedQueue(self._queue(), self.telemetry), owned=False)
        self.mappings = self._port(mappings, lambda: self._tables().mappings, owned=False)
        self.resources = self._port(resources, lambda: self._tables().resources, owned=False)
        self.deadletters = self._port(deadletters, lambda: self._tables().deadletters, owned=False)
        self.room_stores = self._port(room_stores, lambda: adapters.room_stores(self._tables()), owned=False)
        # The Graph credential, and the one Graph session every Graph adapter of this container shares.
        runtime = credentials
        self._factory = self._lazy(lambda: adapters.credential_factory(settings))
        self.secrets: Lazy[SecretStore | None] = (
            Lazy.given(runtime.secrets) if runtime else self._lazy(lambda: adapters.secrets(settings)))
        self.provider = self._port(runtime.provider if runtime else None, lambda: adapters.credential_provider(
            settings, self._factory(), self.secrets(), self.clock))
        self.graph_session = self._lazy(lambda: adapters.graph_session(settings, self.provider(), self.telemetry))
        self.calendar = self._port(calendar, lambda: adapters.calendar(self.graph_session()))
        self.room_graph = self._port(room_graph, lambda: adapters.room_graph(self.graph_session()))
        self.subscriptions = self._port(subscriptions, lambda: adapters.subscriptions(self.graph_session()))
        self.applications = self._port(runtime.applications if runtime else None, lambda: adapters.applications(
            settings, self.provider(), self.graph_session()))
        self.probe = self._port(runtime.probe if runtime else None,
                                lambda: adapters.token_probe(settings, self._factory()))
        self.lease = self._port(runtime.lease if runtime else None, lambda: adapters.rotation_lease(self._tables()))
        self.state = self._port(runtime.state if runtime else credential_state,
                                lambda: adapters.credential_state(self._tables()))
        self._runtime = runtime
        # The doctor's probes; with fake stores given there is no Table Storage, so the probe reads the resources.
        table_probe = (lambda: self.resources().list()) if resources is not None else (lambda: self._tables().probe())
        self.health = self._port(health, lambda: adapters.health_probes(table_probe, self._queue(), self.graph_session),
                                 owned=False)
        self.webhook: Lazy[WebhookSender | None] = (
            Lazy.given(webhook) if webhook else self._lazy(lambda: adapters.webhook(settings, self._webhook_secret())))
        self.breakers = self._port(breakers, lambda: adapters.breakers(self._tables()), owned=False)
        # Who may call the operator API (an Entra access token with an app role).
        self.operator_auth = self._port(operator_auth, lambda: adapters.operator_auth(settings))
        self.drift_reports = self._port(drift_reports, lambda: adapters.drift_reports(self._tables()), owned=False)
        # People: delegated connections, and meetings written with them or with the app's token.
        # One per container: the people's tokens stay in its memory.
        self.delegated = self._port(delegated, lambda: StoredDelegatedCredentials(self.people()), owned=False)
        self.meetings = self._port(meetings, lambda: adapters.meetings(self.graph_session(), self.delegated()),
                                   owned=False)
        # The tenant registry (the settings' tenant is the default one and needs no row).
        self.tenant_store = self._port(tenant_store, lambda: adapters.tenant_store(self._tables()), owned=False)
        self.organizer_stores = self._port(organizer_stores, lambda: adapters.organizer_stores(self._tables()),
                                           owned=False)
        # People: their connections, connect attempts, parked work, Entra (MSAL) and the reconnect mail.
        self.people_stores = self._port(people_stores, lambda: adapters.people_stores(self._tables()), owned=False)
        self.waiting = self._port(waiting, lambda: adapters.waiting_work(self._tables(), self.queue()), owned=False)
        self.token_authority = self._port(token_authority, lambda: adapters.token_authority(settings, self.secrets()))
        self.mailer: Lazy[ReconnectMailer | None] = (
            Lazy.given(mailer) if mailer
            else self._lazy(lambda: adapters.reconnect_mailer(settings, self.graph_session), owned=False))
        # Free/busy through getSchedule; as a person through their delegated connection.
        self.schedules = self._port(schedules, lambda: adapters.schedule_reader(self.graph_session(), self.delegated()),
                                    owned=False)
        # The tenants as the request path sees them: the registry read at most every 30 s (in memory between).
        # With fake stores given and no registry, there is no Table Storage: the default tenant only.
        no_registry = self._no_registry = tenant_store is None and mappings is not None
        self.tenant_cache = CachedTenants(settings, (lambda: _no_rows()) if no_registry
                                          else (lambda: self.tenant_store().list()), self.clock)
        # The other tenants' Graph clients, each with a token requested for its tenant, over the one session.
        self.tenant_calendars: Lazy[TenantClients] = self._port(tenant_calendars, lambda: adapters.tenant_calendars(
            settings, self.graph_session(), self.secrets(), self.clock, self.delegated_in))
        # Another tenant's people: their delegated credentials and Entra of their directory, one per tenant.
        self._people_of: dict[TenantId, tuple[DelegatedCredentials, TokenAuthority]] = {}
        # A given (fake) Entra or set of connections answers for every tenant's people.
        self._given_authority, self._given_delegated = token_authority, delegated
        # Each other tenant's credential state row (keyed by the tenant), for its own rotation.
        self._tenant_credential_state = tenant_credential_state or (
            lambda tenant: adapters.tenant_credential_state(self._tables(), tenant))
        # What the tenant view reads them from (with fake stores and no registry, there is no Table Storage).
        self._tenant_state_rows = self._tenant_credential_state if tenant_credential_state or not no_registry else None
        # A tenant's credential rows (its state row and its lease), which its purge removes.
        self.credential_rows: Lazy[PurgeableStore] = self._lazy(lambda: adapters.credential_rows(self._tables()),
                                                                owned=False)

    def _lazy(self, build: Callable[[], T], *, owned: bool = True) -> Lazy[T]:
        return Lazy(build, owned=owned, opened=self._opened.append)

    def _port(self, given: T | None, build: Callable[[], T], *, owned: bool = True) -> Lazy[T]:
        return Lazy.given(given) if given is not None else self._lazy(build, owned=owned)

    def _webhook_secret(self) -> OutboundWebhookSecret | None:
        if not self.settings.credential.key_vault_url:
            return None
        return OutboundWebhookSecret(self.settings, self.secrets(), self.clock)

    async def close(self) -> None:
        """Close what this container built, the last built first."""
        while self._opened:
            await self._opened.pop().close()

    # -- the dependencies of each use case

    def settlement(self) -> Settlement:
        return Settlement(queue=self.queue(), deadletters=self.deadletters(), clock=self.clock,
                          pause=CredentialHealth(self.state(), self._pause, self._tenant_pauses,
                                                 (self.settings.tenant_id or "").lower() or None),
                          telemetry=self.telemetry, waiting=self.waiting())

    def ingest(self) -> IngestDeps:
        return IngestDeps(settings=self.settings, queue=self.queue(), telemetry=self.telemetry,
                          tenants=self.tenant_cache if self.settings.tenant_id else None, recent=self.recent,
                          clock=self.clock)

    def sync(self) -> SyncDeps:
        return SyncDeps(settings=self.settings, calendar=self.calendar(), mappings=self.mappings(),
                        resources=self.resources(), own_writes=self.room_stores().own_writes,
                        settle=self.settlement(), clock=self.clock, telemetry=self.telemetry,
                        breaker=self.breaker(), recent=self.recent,
                        tenants=self.tenant_cache if self.settings.tenant_id else None,
                        tenant_calendars=_OnFirstUse(self.tenant_calendars))

    def operator(self) -> OperatorDeps:
        return OperatorDeps(resources=self.resources(), deadletters=self.deadletters(), queue=self.queue(),
                            default_tenant=self.settings.tenant_id)

    def intake(self) -> IntakeDeps:
        return IntakeDeps(settings=self.settings, queue=self.queue(), dropped=self.dropped, telemetry=self.telemetry)

    def subscribing(self, *, fresh: bool = False) -> SubscriptionDeps:
        """``fresh``: another tenant is looked up in the registry itself (an operator's request), not the cache."""
        tenants: TenantLookup | None = None
        if self.settings.tenant_id:
            tenants = self.tenant_lookup() if fresh and not self._no_registry else self.tenant_cache
        return SubscriptionDeps(settings=self.settings, rooms=self.room_stores().rooms,
                                subscriptions=self.subscriptions(), queue=self.queue(), clock=self.clock,
                                organizers=self.organizer_stores().organizers, tenants=tenants,
                                tenant_clients=_OnFirstUse(self.tenant_calendars))

    def publisher(self) -> PublisherDeps:
        stores = self.room_stores()
        return PublisherDeps(settings=self.settings, log=stores.log, outbox=stores.outbox, webhook=self.webhook(),
                             queue=self.queue(), settle=self.settlement(), clock=self.clock,
                             tenants=self.tenant_cache if self.settings.tenant_id else None)

    def registration(self) -> RegistrationDeps:
        return RegistrationDeps(settings=self.settings, rooms=self.room_stores().rooms, graph=self.room_graph(),
                                subscribing=self.subscribing(fresh=True), clock=self.clock, dropped=self.dropped)

    def upkeep(self) -> UpkeepDeps:
        stores = self.room_stores()
        return UpkeepDeps(settings=self.settings, rooms=stores.rooms, users=stores.users, graph=self.room_graph(),
                          subscribing=self.subscribing(), publisher=self.publisher(), clock=self.clock,
                          telemetry=self.telemetry, gauges=self.gauges(),
                          registered=self.tenant_cache.all if self.settings.tenant_id else None)

    def worker(self) -> WorkerDeps:
        stores = self.room_stores()
        return WorkerDeps(settings=self.settings, rooms=stores.rooms, reservations=stores.reservations,
                          own_writes=stores.own_writes, graph=self.room_graph(), subscribing=self.subscribing(),
                          publisher=self.publisher(), upkeep=self.upkeep(), settle=self.settlement(),
                          clock=self.clock, dropped=self.dropped, organizers=self.organizer_watch())

    def credentials(self) -> CredentialRuntime:
        if self._runtime is not None:
            return self._runtime
        return CredentialRuntime(settings=self.settings, provider=self.provider(), secrets=self.secrets(),
                                 applications=self.applications(), probe=self.probe(), lease=self.lease(),
                                 state=self.state(), clock=self.clock, telemetry=self.telemetry)

    def doctor(self, *, rooms: bool = True) -> DoctorDeps:
        return DoctorDeps(settings=self.settings, credentials=self.credentials(), mappings=self.mappings(),
                          resources=self.resources(), deadletters=self.deadletters(), health=self.health(),
                          rooms=self.room_stores().rooms if rooms else None, clock=self.clock,
                          telemetry=self.telemetry,
                          tenants=(self.tenant_lookup() if not self._no_registry else self.tenant_cache)
                          if self.settings.tenant_id else None,
                          tenant_credentials=lambda tenant: self.tenant_calendars().provider(tenant))

    def breaker(self) -> BreakerDeps:
        return BreakerDeps(store=self.breakers(), mappings=self.mappings(), limits=self.settings.breaker,
                           clock=self.clock, telemetry=self.telemetry)

    def breaker_operator(self) -> BreakerOperatorDeps:
        return BreakerOperatorDeps(store=self.breakers(), queue=self.queue(), clock=self.clock,
                                   telemetry=self.telemetry, default_tenant=self.settings.tenant_id,
                                   tenants=self._operator_tenants())

    def operator_access(self) -> OperatorAuth:
        return self.operator_auth()

    def drift(self) -> DriftDeps:
        return DriftDeps(settings=self.settings, calendar=self.calendar(), mappings=self.mappings(),
                         resources=self.resources(), reports=self.drift_reports(), queue=self.queue(),
                         settle=self.settlement(), clock=self.clock, telemetry=self.telemetry,
                         tenants=self.tenant_cache if self.settings.tenant_id else None,
                         tenant_calendars=_OnFirstUse(self.tenant_calendars))

    def drift_runs(self) -> DriftRunDeps:
        multi = bool(self.settings.tenant_id) and not self._no_registry
        return DriftRunDeps(settings=self.settings, mappings=self.mappings(), resources=self.resources(),
                            reports=self.drift_reports(), queue=self.queue(), clock=self.clock,
                            tenants=self._operator_tenants(),
                            registered=(lambda: self.tenant_store().list()) if multi else None)

    def gauges(self) -> GaugeDeps:
        return GaugeDeps(deadletters=self.deadletters(), health=self.health(), breakers=self.breakers(),
                         telemetry=self.telemetry)

    def appointments(self) -> AppointmentDeps:
        return AppointmentDeps(settings=self.settings, meetings=self.meetings(), delegated=self.delegated(),
                               mappings=self.mappings(), publisher=self.publisher(), settle=self.settlement(),
                               clock=self.clock, organizers=self.organizer_stores().organizers,
                               watches=self.organizer_stores().watches,
                               tenants=self.tenant_cache if self.settings.tenant_id else None,
                               tenant_calendars=_OnFirstUse(self.tenant_calendars), delegated_in=self.delegated_in)

    def tenants(self) -> TenantDeps:
        store = self.tenant_store()
        # The stores a purge empties of the tenant's rows: every store keyed by tenant.
        rooms, organizers = self.room_stores(), self.organizer_stores()
        purgeables: tuple[PurgeableStore, ...] = (
            self.mappings(), self.deadletters(), rooms.rooms, rooms.reservations, organizers.organizers,
            organizers.watches, self.people_stores().connections, self.waiting(), self.breakers(),
            self.drift_reports(), rooms.own_writes, self.credential_rows(), rooms.users,
            rooms.log, rooms.outbox, store)
        return TenantDeps(settings=self.settings, store=store, nonces=store, purgeables=purgeables,
                          clock=self.clock, credential_state=self.state(), changed=self.tenant_cache.invalidate,
                          credential_state_of=self._tenant_state_rows)

    def tenant_lookup(self) -> TenantLookup:
        return RegisteredTenants(self.settings, self.tenant_store())

    def organizers(self) -> OrganizerDeps:
        stores = self.organizer_stores()
        return OrganizerDeps(settings=self.settings, organizers=stores.organizers, watches=stores.watches,
                             subscribing=self.subscribing(fresh=True), clock=self.clock, dropped=self.dropped)

    def organizer_watch(self) -> WatchDeps:
        stores = self.organizer_stores()
        return WatchDeps(settings=self.settings, organizers=stores.organizers, watches=stores.watches,
                         graph=self.room_graph(), subscribing=self.subscribing(), publisher=self.publisher(),
                         clock=self.clock, dropped=self.dropped)

    def people(self) -> PeopleDeps:
        stores = self.people_stores()
        return PeopleDeps(settings=self.settings, connections=stores.connections, attempts=stores.attempts,
                          authority=self.token_authority(), waiting=self.waiting(), publisher=self.publisher(),
                          mailer=self.mailer(), clock=self.clock, telemetry=self.telemetry,
                          tenants=self.tenant_cache if self.settings.tenant_id else None,
                          authorities=self.authority_in)

    def availability(self) -> AvailabilityDeps:
        return AvailabilityDeps(reader=self.schedules(), telemetry=self.telemetry)

    def authority_in(self, tenant: TenantId) -> TokenAuthority:
        """Entra of ``tenant``'s directory, where its people sign in (one per tenant)."""
        if self._given_authority is not None:
            return self._given_authority
        known = self._people_of.get(tenant)
        if known is not None:
            return known[1]
        return adapters.token_authority(self.settings, self.secrets(), tenant)

    def delegated_in(self, tenant: TenantId) -> DelegatedCredentials:
        """The delegated credentials of ``tenant``'s people (their rows, their directory; one per tenant)."""
        if self._given_delegated is not None:
            return self._given_delegated
        known = self._people_of.get(tenant)
        if known is None:
            people = people_in(self.people(), tenant)
            known = self._people_of[tenant] = (StoredDelegatedCredentials(people), people.authority)
        return known[0]

    def _operator_tenants(self) -> TenantLookup | None:
        """Another tenant an operator names, looked up in the registry itself (not the cache)."""
        if not self.settings.tenant_id:
            return None
        return self.tenant_lookup() if not self._no_registry else self.tenant_cache

    def credentials_in(self, tenant: Tenant) -> CredentialRuntime:
        """A registered tenant's credential runtime: its provider, its Key Vault secret and rotation policy, its
        app's service principal in its directory, its own lease and state row."""
        provider = self.tenant_calendars().provider(tenant)
        settings, applications, probe = adapters.tenant_credentials(self.settings, tenant, provider,
                                                                    self.graph_session())
        return CredentialRuntime(settings=settings, provider=provider, secrets=self.secrets(),
                                 applications=applications, probe=probe, lease=self.lease(),
                                 state=self._tenant_credential_state(tenant.id), clock=self.clock,
                                 telemetry=self.telemetry, tenant=tenant.id)

    def tenant_credentials(self) -> TenantCredentialDeps:
        """Every tenant's credential: the timer's ``rotate_all`` and the credential routes' ``?tenant=``."""
        multi = bool(self.settings.tenant_id) and not self._no_registry
        return TenantCredentialDeps(
            settings=self.settings, default=self.credentials,
            registered=(lambda: self.tenant_store().list()) if multi else _no_rows,
            runtime_for=self.credentials_in,
            tenants=(self.tenant_lookup() if multi else self.tenant_cache) if self.settings.tenant_id else None)
