"""The real adapters, one builder each, called by the container the first time a use case needs one.

Each imports its SDK inside the builder, so an HTTP ingest (queue only) never imports msgraph-sdk or
azure-identity. Nothing here touches the network: the clients connect on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.app.messaging import MessageQueue
from shared.app.people.tenancy import ParkedWork
from shared.app.ports.availability import ScheduleReader
from shared.app.ports.breakers import BreakerStore
from shared.app.ports.clock import Clock
from shared.app.ports.credentials import (
    ApplicationGateway,
    CredentialProvider,
    CredentialStateStore,
    RotationLease,
    SecretStore,
    TokenProbe,
)
from shared.app.ports.operator import HealthProbes, OperatorAuth
from shared.app.ports.organizers import AppointmentWatchStore, OrganizerStore
from shared.app.ports.people import (
    ConnectAttempts,
    ConnectionStore,
    DelegatedCredentials,
    MeetingCalendar,
    ReconnectMailer,
    TokenAuthority,
)
from shared.app.ports.planning import CalendarGateway, DriftReportStore
from shared.app.ports.rooms import (
    EventLog,
    Outbox,
    OwnWrites,
    ReservationStore,
    RoomGraph,
    RoomStore,
    SubscriptionGateway,
    UserStore,
    WebhookSender,
)
from shared.app.ports.telemetry import Telemetry
from shared.app.ports.tenants import PurgeableStore, TenantRegistryStore
from shared.config import Settings
from shared.domain.tenants.model import Tenant, TenantId

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from shared.adapters.graph.session import GraphSession
    from shared.adapters.graph.tenants import TenantGraphClients
    from shared.adapters.identity.factory import CredentialFactory
    from shared.adapters.tables.stores import TableStores

__all__ = ["OrganizerStores", "PeopleStores", "RoomStores"]


@dataclass(frozen=True)
class RoomStores:
    """The room capability's tables (one service client, shared with the other stores)."""

    rooms: RoomStore
    reservations: ReservationStore
    own_writes: OwnWrites
    log: EventLog
    users: UserStore
    outbox: Outbox


def queue(settings: Settings) -> MessageQueue:
    if settings.queue.local_path:
        from shared.adapters.local_queue import LocalQueuePublisher

        return LocalQueuePublisher(settings.queue.local_path)
    from shared.adapters.servicebus import ServiceBusQueue

    return ServiceBusQueue(settings.queue, managed_identity_client_id=settings.managed_identity_client_id)


def table_stores(settings: Settings) -> TableStores:
    from shared.adapters.tables.stores import TableStores

    return TableStores(settings)


def room_stores(tables: TableStores) -> RoomStores:
    from shared.adapters.tables.rooms import RoomTables

    t = RoomTables(tables)
    return RoomStores(rooms=t.rooms, reservations=t.reservations, own_writes=t.own_writes, log=t.log, users=t.users,
                      outbox=t.outbox)


# -- Graph: one session per event loop, shared by every Graph adapter


def graph_session(settings: Settings, provider: CredentialProvider, telemetry: Telemetry) -> GraphSession:
    from shared.adapters.graph.session import GraphSession

    return GraphSession(settings, credential=provider, telemetry=telemetry)


def calendar(session: GraphSession) -> CalendarGateway:
    from shared.adapters.graph.calendar import GraphCalendarGateway

    return GraphCalendarGateway(session)


def room_graph(session: GraphSession) -> RoomGraph:
    from shared.adapters.graph.rooms import GraphRoomReader

    return GraphRoomReader(session)


def subscriptions(session: GraphSession) -> SubscriptionGateway:
    from shared.adapters.graph.subscriptions import GraphSubscriptionGateway

    return GraphSubscriptionGateway(session)


def applications(settings: Settings, provider: CredentialProvider, session: GraphSession) -> ApplicationGateway:
    from shared.adapters.graph.applications import GraphApplicationGateway

    return GraphApplicationGateway(settings, provider, http=session.http)


def webhook(settings: Settings, secret: Callable[[], Awaitable[str | None]] | None) -> WebhookSender | None:
    """The booking system's webhook; None without ``CONNECTOR_OUTBOUND_WEBHOOK_URL`` or a signing secret.
    ``secret`` reads the signing secret (from the vault); None: the app setting."""
    rooms = settings.rooms
    source = secret or rooms.outbound_webhook_secret
    if not rooms.outbound_webhook_url or source is None:
        return None
    from shared.adapters.webhook import StandardWebhookSender

    return StandardWebhookSender(rooms.outbound_webhook_url, source, ca_file=settings.ca_file)


# -- the Graph credential


def credential_factory(settings: Settings) -> CredentialFactory:
    from shared.adapters.identity.factory import AzureIdentityFactory

    return AzureIdentityFactory(settings)


def secrets(settings: Settings) -> SecretStore | None:
    """Key Vault, when the credential lives there (``CALENDAR_MSGRAPH_KEY_VAULT_URL``)."""
    vault = settings.credential.key_vault_url
    if not vault:
        return None
    from shared.adapters.keyvault import KeyVaultSecretStore

    return KeyVaultSecretStore(vault, managed_identity_client_id=settings.managed_identity_client_id,
                               ca_file=settings.ca_file)


def credential_provider(settings: Settings, factory: CredentialFactory, secrets: SecretStore | None,
                        clock: Clock) -> CredentialProvider:
    from shared.adapters.identity.graph_credential import GraphCredentialProvider

    return GraphCredentialProvider(settings, factory, secrets=secrets, clock=clock)


def token_probe(settings: Settings, factory: CredentialFactory) -> TokenProbe:
    from shared.adapters.identity.factory import IdentityTokenProbe

    return IdentityTokenProbe(settings, factory)


def rotation_lease(tables: TableStores) -> RotationLease:
    from shared.adapters.tables.credentials import TableRotationLease

    return TableRotationLease(tables)


def credential_state(tables: TableStores) -> CredentialStateStore:
    from shared.adapters.tables.credentials import TableCredentialStateStore

    return TableCredentialStateStore(tables)


def health_probes(tables: Callable[[], Awaitable[object]], queue: MessageQueue,
                  graph: Callable[[], GraphSession]) -> HealthProbes:
    from shared.adapters.health import DeploymentProbes

    return DeploymentProbes(tables=tables, queue=queue, graph=graph)


def telemetry(settings: Settings) -> Telemetry:
    """Spans and metrics over the OpenTelemetry API (light, no I/O); ``configure_exporters`` picks the exporter."""
    from shared.adapters.telemetry import OpenTelemetry

    return OpenTelemetry(settings.tenant_id or "local")


def breakers(tables: TableStores) -> BreakerStore:
    from shared.adapters.tables.breakers import TableBreakerStore

    return TableBreakerStore(tables)


def operator_auth(settings: Settings) -> OperatorAuth:
    from shared.adapters.operator_auth import EntraOperatorAuth

    return EntraOperatorAuth(tenant_id=settings.tenant_id, audiences=settings.operator_audiences,
                             issuers=settings.operator_issuers, auth_endpoint=settings.auth_endpoint,
                             ca_file=settings.ca_file)


def drift_reports(tables: TableStores) -> DriftReportStore:
    from shared.adapters.tables.drift import TableDriftReportStore

    return TableDriftReportStore(tables)


def meetings(session: GraphSession, delegated: DelegatedCredentials) -> MeetingCalendar:
    from shared.adapters.graph.meetings import GraphMeetingCalendar

    return GraphMeetingCalendar(session, delegated)


def tenant_store(tables: TableStores) -> TenantRegistryStore:
    from shared.adapters.tables.tenants import TableTenantStore

    return TableTenantStore(tables)


@dataclass(frozen=True)
class OrganizerStores:
    """Watched organizers and the last known state of the connector's meetings in their calendars."""

    organizers: OrganizerStore
    watches: AppointmentWatchStore


def organizer_stores(tables: TableStores) -> OrganizerStores:
    from shared.adapters.tables.organizers import OrganizerTables

    t = OrganizerTables(tables)
    return OrganizerStores(organizers=t.organizers, watches=t.watches)


@dataclass(frozen=True)
class PeopleStores:
    """The people capability's tables (one service client, shared with the other stores)."""

    connections: ConnectionStore
    attempts: ConnectAttempts


def people_stores(tables: TableStores) -> PeopleStores:
    from shared.adapters.tables.people import TableConnectAttempts, TableConnectionStore

    return PeopleStores(connections=TableConnectionStore(tables), attempts=TableConnectAttempts(tables))


def waiting_work(tables: TableStores, queue: MessageQueue) -> ParkedWork:
    from shared.adapters.tables.people import TableWaitingWork

    return TableWaitingWork(tables, queue)


def token_authority(settings: Settings, secrets: SecretStore | None, tenant: str | None = None) -> TokenAuthority:
    """Entra for people of the settings' directory, or of ``tenant``'s (the same multi-tenant application)."""
    from shared.adapters.identity.delegated import MsalTokenAuthority, client_credential

    return MsalTokenAuthority(settings, client_credential(settings, secrets), tenant)


def reconnect_mailer(settings: Settings, session: Callable[[], GraphSession]) -> ReconnectMailer | None:
    if not settings.people.reconnect_mail_from:
        return None
    from shared.adapters.graph.mail import GraphReconnectMailer

    return GraphReconnectMailer(session())


def schedule_reader(session: GraphSession, delegated: DelegatedCredentials) -> ScheduleReader:
    from shared.adapters.graph.schedule import GraphScheduleReader

    return GraphScheduleReader(session, delegated)

def tenant_calendars(settings: Settings, session: GraphSession, secrets: SecretStore | None,
                     clock: Clock, delegated: Callable[[TenantId], DelegatedCredentials] | None = None,
                     ) -> TenantGraphClients:
    """The Graph clients of the registered tenants (one credential provider each, built on first use)."""
    from shared.adapters.graph.tenants import TenantGraphClients

    return TenantGraphClients(settings, session, secrets, clock, delegated)


def tenant_credentials(settings: Settings, tenant: Tenant, provider: CredentialProvider, session: GraphSession,
                       ) -> tuple[Settings, ApplicationGateway, TokenProbe]:
    """What rotating another tenant's credential needs besides its provider: the settings as its credential sees
    them (its directory, secret name and policy), its app's service principal in its directory (the credential
    a customer's administrator issued lives there) and a token probe requesting tokens in its directory."""
    from shared.adapters.graph.applications import GraphApplicationGateway
    from shared.adapters.graph.tenants import tenant_settings
    from shared.adapters.identity.factory import AzureIdentityFactory, IdentityTokenProbe

    scoped = tenant_settings(settings, tenant)
    gateway = GraphApplicationGateway(scoped, provider, http=session.http, resource="servicePrincipals")
    return scoped, gateway, IdentityTokenProbe(scoped, AzureIdentityFactory(scoped))


def tenant_credential_state(tables: TableStores, tenant: TenantId) -> CredentialStateStore:
    from shared.adapters.tables.credentials import TableCredentialStateStore

    return TableCredentialStateStore(tables, tenant)


def credential_rows(tables: TableStores) -> PurgeableStore:
    from shared.adapters.tables.credentials import TableCredentialRows

    return TableCredentialRows(tables)
