"""Settings: parsed once from app settings (environment) into a frozen value; the parser is pure.

Only ``bootstrap`` hands ``os.environ`` to ``Settings.from_env``. A bad value raises
``ConfigurationError`` naming the setting and what is wrong; secret values never appear in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.domain.planning.breaker import BreakerLimits
from shared.domain.timezones import TimeZone, resolve_time_zone
from shared.errors import ConfigurationError
from shared.setting_values import (
    is_loopback,
    read_bool,
    read_https_url,
    read_int,
    read_schedule,
    read_text,
    read_time_zone,
)

__all__ = ["CREDENTIAL_KINDS", "CredentialSettings", "DriftSettings", "PeopleSettings", "QueueConnection", "Settings",
           "TablesConnection", "TelemetrySettings"]

DEFAULT_GRAPH_ENDPOINT = "https://graph.microsoft.com/v1.0"
DEFAULT_AUTH_ENDPOINT = "https://login.microsoftonline.com"
DEFAULT_SCOPES = "https://graph.microsoft.com/.default"
DEFAULT_PUBLIC_BASE_URL = "http://127.0.0.1:7071"
DEFAULT_RENEWAL_SCHEDULE = "0 */30 * * * *"
DEFAULT_USERS_SCHEDULE = "0 */15 * * * *"
BOOKING_MODES = ("organizer", "room")
NOTIFICATION_DELIVERIES = ("webhook", "eventGrid")  # how Graph delivers room notifications (docs/operations.md 3)
EVENTGRID_URL_PARAMETERS = ("azuresubscriptionid", "resourcegroup", "partnertopic", "location")
AZURITE_TABLES = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)


@dataclass(frozen=True)
class TablesConnection:
    """Either a connection string (local, Azurite) or an endpoint reached with the managed identity."""

    connection_string: str | None = field(default=None, repr=False)
    endpoint: str | None = None


@dataclass(frozen=True)
class QueueConnection:
    """Service Bus (connection string or namespace + identity), or the local SQLite transport."""

    connection_string: str | None = field(default=None, repr=False)
    fully_qualified_namespace: str | None = None
    local_path: str | None = None


CREDENTIAL_KINDS = ("secret", "certificate", "federated")
DEFAULT_ROTATE_SCHEDULE = "0 30 3 * * *"  # NCRONTAB: daily at 03:30 UTC


@dataclass(frozen=True)
class CredentialSettings:
    """How the connector proves itself to Entra, where the credential lives and how it is rotated."""

    kind: str = "secret"
    key_vault_url: str | None = None
    client_secret_name: str = "graph-client-secret"
    certificate_name: str = "graph-client-certificate"
    outbound_webhook_secret_name: str = "outbound-webhook-secret"
    rotate_days_before: int = 30
    lifetime_days: int = 180
    grace_hours: int = 24
    rotate_schedule: str = DEFAULT_ROTATE_SCHEDULE


@dataclass(frozen=True)
class RoomSettings:
    """Rooms and the booking system (design.md section 10). Secrets are kept out of repr."""

    public_base_url: str = DEFAULT_PUBLIC_BASE_URL
    outbound_webhook_url: str | None = None
    outbound_webhook_secret: str | None = field(default=None, repr=False)
    # HMAC keys of subscription clientStates; the first mints, all verify (rotation).
    client_state_keys: tuple[bytes, ...] = field(default=(), repr=False)
    booking_mode: str = "organizer"  # "organizer": booker's calendar, room as resource attendee; "room"
    subscription_renewal_schedule: str = DEFAULT_RENEWAL_SCHEDULE
    users_directory_schedule: str = DEFAULT_USERS_SCHEDULE
    # "webhook": Graph POSTs to the app's /api/graph routes; "eventGrid": to the partner topic this URL names
    # (EventGrid:?azuresubscriptionid=...&resourcegroup=...&partnertopic=...&location=...).
    notification_delivery: str = "webhook"
    eventgrid_notification_url: str | None = None


@dataclass(frozen=True)
class TelemetrySettings:
    """Where traces, metrics and logs go: Application Insights when its connection string is set, else
    ``exporter`` (console or otlp, for local runs), else nowhere."""

    connection_string: str | None = field(default=None, repr=False)
    exporter: str = ""


TELEMETRY_EXPORTERS = ("", "console", "otlp")
DEFAULT_COALESCE_WINDOW_MS = 500


@dataclass(frozen=True)
class Settings:
    synchronize: bool = False
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    graph_endpoint: str = DEFAULT_GRAPH_ENDPOINT
    auth_endpoint: str = DEFAULT_AUTH_ENDPOINT
    scopes: tuple[str, ...] = (DEFAULT_SCOPES,)
    lookup_principal_name: bool = False
    time_zone: TimeZone = field(default_factory=lambda: resolve_time_zone("Europe/Berlin"))
    days_back: int = 365
    tables: TablesConnection = field(default_factory=TablesConnection)
    queue: QueueConnection = field(default_factory=QueueConnection)
    table_prefix: str = "connector"
    managed_identity_client_id: str | None = None
    credential: CredentialSettings = field(default_factory=CredentialSettings)
    # Extra CA bundle to trust (the local Graph simulator's); None trusts the system store only.
    ca_file: str | None = None
    rooms: RoomSettings = field(default_factory=lambda: RoomSettings())
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    breaker: BreakerLimits = field(default_factory=BreakerLimits)
    # Accepted ``aud`` values of an operator's access token; () means the connector's own app registration.
    operator_audiences: tuple[str, ...] = ()
    drift: DriftSettings = field(default_factory=lambda: DriftSettings())
    # Whose token writes appointments (design.md section 11): delegated, application, or auto (delegated when
    # the organizer is connected, else application).
    appointment_auth: str = "auto"
    people: PeopleSettings = field(default_factory=lambda: PeopleSettings())
    # Coalescing (shared.domain.planning.coalesce): a live planning event waits this long for newer ones of its
    # entity, at most ``coalesce_max_ms`` for a burst. 0 applies each event at once, the default of Settings made
    # in code; the app setting's default is DEFAULT_COALESCE_WINDOW_MS.
    coalesce_window_ms: int = 0
    coalesce_max_ms: int = 5000

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Parse app settings; raise ``ConfigurationError`` on the first bad one."""
        synchronize = read_bool(env, "CALENDAR_MSGRAPH_SYNCHRONIZE", False)
        tenant_id = read_text(env, "CALENDAR_MSGRAPH_TENANT_GUID")
        client_id = read_text(env, "CALENDAR_MSGRAPH_CLIENT_ID")
        client_secret = read_text(env, "CALENDAR_MSGRAPH_CLIENT_SECRET")
        credential = _credential(env)
        if synchronize:
            for name, value in (
                ("CALENDAR_MSGRAPH_TENANT_GUID", tenant_id),
                ("CALENDAR_MSGRAPH_CLIENT_ID", client_id),
            ):
                if not value:
                    raise ConfigurationError(name, "is required when CALENDAR_MSGRAPH_SYNCHRONIZE is true")
            _check_credential_source(credential, client_secret, read_text(env, "AZURE_CLIENT_ID"))
        scopes = tuple(
            s for s in (read_text(env, "CALENDAR_MSGRAPH_SCOPES") or DEFAULT_SCOPES).replace(",", " ").split() if s
        )
        return cls(
            synchronize=synchronize,
            tenant_id=tenant_id,
            client_id=client_id,
            client_secret=client_secret,
            graph_endpoint=read_https_url(env, "CALENDAR_MSGRAPH_GRAPH_ENDPOINT", DEFAULT_GRAPH_ENDPOINT),
            auth_endpoint=read_https_url(env, "CALENDAR_MSGRAPH_AUTH_ENDPOINT", DEFAULT_AUTH_ENDPOINT),
            scopes=scopes,
            lookup_principal_name=read_bool(env, "CALENDAR_MSGRAPH_LOOKUP_PRINCIPAL_NAME", False),
            time_zone=read_time_zone(env, "CALENDAR_MSGRAPH_TIME_ZONE", "Europe/Berlin"),
            days_back=read_int(env, "CALENDAR_MSGRAPH_DAYS_BACK", 365, minimum=0, maximum=3650),
            tables=_tables(env),
            queue=_queue(env),
            table_prefix=_table_prefix(env),
            managed_identity_client_id=read_text(env, "AZURE_CLIENT_ID"),
            credential=credential,
            ca_file=read_text(env, "SSL_CERT_FILE"),
            rooms=_rooms(env, has_vault=credential.key_vault_url is not None),
            telemetry=_telemetry(env),
            breaker=_breaker(env),
            operator_audiences=_operator_audiences(env, client_id),
            drift=_drift(env),
            appointment_auth=_appointment_auth(env),
            people=_people(env),
            coalesce_window_ms=read_int(env, "CONNECTOR_COALESCE_WINDOW_MS", DEFAULT_COALESCE_WINDOW_MS, minimum=0,
                                        maximum=60_000),
            coalesce_max_ms=_coalesce_max(env),
        )

    @property
    def operator_issuers(self) -> tuple[str, ...]:
        """Issuers of the tenant's access tokens: v2.0 (the configured authority) and v1.0 (sts.windows.net)."""
        if not self.tenant_id:
            return ()
        return (f"{self.auth_endpoint}/{self.tenant_id}/v2.0", f"https://sts.windows.net/{self.tenant_id}/")


def _tables(env: Mapping[str, str]) -> TablesConnection:
    if endpoint := read_text(env, "TableStorage__endpoint"):
        if not endpoint.startswith(("https://", "http://")):
            raise ConfigurationError("TableStorage__endpoint", "must be a URL such as https://<account>.table.core.windows.net")
        return TablesConnection(endpoint=endpoint)
    for name in ("TableStorage", "AzureWebJobsStorage"):
        if value := read_text(env, name):
            if value.lower().replace(" ", "") == "usedevelopmentstorage=true":
                return TablesConnection(connection_string=AZURITE_TABLES)
            if "AccountName=" not in value and "TableEndpoint=" not in value:
                raise ConfigurationError(name, "is not a storage connection string")
            return TablesConnection(connection_string=value)
    if account := read_text(env, "AzureWebJobsStorage__accountName"):
        return TablesConnection(endpoint=f"https://{account}.table.core.windows.net")
    raise ConfigurationError(
        "TableStorage__endpoint", "is missing (or set TableStorage / AzureWebJobsStorage to a connection string)"
    )


def _queue(env: Mapping[str, str]) -> QueueConnection:
    if path := read_text(env, "CONNECTOR_LOCAL_QUEUE_PATH"):
        return QueueConnection(local_path=path)
    if namespace := read_text(env, "ServiceBusConnection__fullyQualifiedNamespace"):
        return QueueConnection(fully_qualified_namespace=namespace)
    if value := read_text(env, "ServiceBusConnection"):
        if "Endpoint=sb://" not in value:
            raise ConfigurationError("ServiceBusConnection", "is not a Service Bus connection string")
        return QueueConnection(connection_string=value)
    raise ConfigurationError(
        "ServiceBusConnection__fullyQualifiedNamespace", "is missing (or set ServiceBusConnection)"
    )


def _table_prefix(env: Mapping[str, str]) -> str:
    value = read_text(env, "CONNECTOR_TABLE_PREFIX") or "connector"
    if not (value.isalnum() and value[0].isalpha() and len(value) <= 40):
        raise ConfigurationError("CONNECTOR_TABLE_PREFIX", "must be letters and digits, starting with a letter")
    return value


def _credential(env: Mapping[str, str]) -> CredentialSettings:
    kind = (read_text(env, "CALENDAR_MSGRAPH_CREDENTIAL") or "secret").lower()
    if kind not in CREDENTIAL_KINDS:
        raise ConfigurationError("CALENDAR_MSGRAPH_CREDENTIAL", f"must be one of {', '.join(CREDENTIAL_KINDS)}")
    vault = None
    if read_text(env, "CALENDAR_MSGRAPH_KEY_VAULT_URL"):
        vault = read_https_url(env, "CALENDAR_MSGRAPH_KEY_VAULT_URL", "") + "/"
        if not vault.startswith("https://"):  # the SDK sends tokens over TLS only
            raise ConfigurationError("CALENDAR_MSGRAPH_KEY_VAULT_URL", "must use https")
    days_before = read_int(env, "CALENDAR_MSGRAPH_ROTATE_DAYS_BEFORE", 30, minimum=1, maximum=700)
    lifetime = read_int(env, "CALENDAR_MSGRAPH_CREDENTIAL_LIFETIME_DAYS", 180, minimum=2, maximum=730)
    if days_before >= lifetime:
        raise ConfigurationError("CALENDAR_MSGRAPH_ROTATE_DAYS_BEFORE",
                                 f"must be less than CALENDAR_MSGRAPH_CREDENTIAL_LIFETIME_DAYS ({lifetime})")
    return CredentialSettings(
        kind=kind,
        key_vault_url=vault,
        client_secret_name=_secret_name(env, "CALENDAR_MSGRAPH_CLIENT_SECRET_NAME", "graph-client-secret"),
        certificate_name=_secret_name(env, "CALENDAR_MSGRAPH_CERTIFICATE_NAME", "graph-client-certificate"),
        outbound_webhook_secret_name=_secret_name(env, "CONNECTOR_OUTBOUND_WEBHOOK_SECRET_NAME",
                                                  "outbound-webhook-secret"),
        rotate_days_before=days_before,
        lifetime_days=lifetime,
        grace_hours=read_int(env, "CALENDAR_MSGRAPH_ROTATE_GRACE_HOURS", 24, minimum=0, maximum=720),
        rotate_schedule=read_text(env, "CALENDAR_MSGRAPH_ROTATE_SCHEDULE") or DEFAULT_ROTATE_SCHEDULE,
    )


def _secret_name(env: Mapping[str, str], name: str, default: str) -> str:
    value = read_text(env, name) or default
    # Key Vault object names: 1-127 letters, digits and dashes.
    if not (len(value) <= 127 and all(c.isascii() and (c.isalnum() or c == "-") for c in value)):
        raise ConfigurationError(name, "must be a Key Vault secret name (letters, digits and dashes)")
    return value


def _check_credential_source(credential: CredentialSettings, client_secret: str | None,
                             identity_client_id: str | None) -> None:
    """Each kind names what must be there for a token to be obtainable."""
    if credential.kind == "secret" and not (client_secret or credential.key_vault_url):
        raise ConfigurationError("CALENDAR_MSGRAPH_CLIENT_SECRET",
                                 "is required when CALENDAR_MSGRAPH_SYNCHRONIZE is true"
                                 " (or set CALENDAR_MSGRAPH_KEY_VAULT_URL to read it from Key Vault)")
    if credential.kind == "certificate" and not credential.key_vault_url:
        raise ConfigurationError("CALENDAR_MSGRAPH_KEY_VAULT_URL",
                                 "is required when CALENDAR_MSGRAPH_CREDENTIAL is certificate")
    if credential.kind == "federated" and not identity_client_id:
        raise ConfigurationError("AZURE_CLIENT_ID", "is required when CALENDAR_MSGRAPH_CREDENTIAL is federated"
                                 " (the client id of the user-assigned managed identity)")


def _rooms(env: Mapping[str, str], *, has_vault: bool = False) -> RoomSettings:
    webhook_url = read_text(env, "CONNECTOR_OUTBOUND_WEBHOOK_URL")
    secret = read_text(env, "CONNECTOR_OUTBOUND_WEBHOOK_SECRET")
    if webhook_url:
        webhook_url = read_https_url(env, "CONNECTOR_OUTBOUND_WEBHOOK_URL", webhook_url)
        if not secret and not has_vault:
            raise ConfigurationError("CONNECTOR_OUTBOUND_WEBHOOK_SECRET",
                                     "is required when CONNECTOR_OUTBOUND_WEBHOOK_URL is set"
                                     " (or keep it in Key Vault under CONNECTOR_OUTBOUND_WEBHOOK_SECRET_NAME)")
    if secret:
        _check_webhook_secret(secret)
    keys = tuple(k.strip().encode("utf-8") for k in (read_text(env, "CONNECTOR_CLIENT_STATE_KEY") or "").split(",")
                 if k.strip())
    if any(len(k) < 16 for k in keys):
        raise ConfigurationError("CONNECTOR_CLIENT_STATE_KEY", "each key must be at least 16 characters")
    delivery, eventgrid_url = _notification_delivery(env)
    mode = (read_text(env, "CONNECTOR_ROOM_BOOKING_MODE") or "organizer").lower()
    if mode not in BOOKING_MODES:
        raise ConfigurationError("CONNECTOR_ROOM_BOOKING_MODE", f"must be one of {', '.join(BOOKING_MODES)}")
    return RoomSettings(
        public_base_url=read_https_url(env, "CONNECTOR_PUBLIC_BASE_URL", DEFAULT_PUBLIC_BASE_URL),
        outbound_webhook_url=webhook_url,
        outbound_webhook_secret=secret,
        client_state_keys=keys,
        booking_mode=mode,
        subscription_renewal_schedule=read_schedule(env, "CONNECTOR_SUBSCRIPTION_RENEWAL_SCHEDULE",
                                                DEFAULT_RENEWAL_SCHEDULE),
        users_directory_schedule=read_schedule(env, "CONNECTOR_USERS_DIRECTORY_SCHEDULE", DEFAULT_USERS_SCHEDULE),
        notification_delivery=delivery,
        eventgrid_notification_url=eventgrid_url,
    )


def _check_webhook_secret(secret: str) -> None:
    import base64
    import binascii

    if not secret.startswith("whsec_"):
        raise ConfigurationError("CONNECTOR_OUTBOUND_WEBHOOK_SECRET", "must start with whsec_ (Standard Webhooks)")
    try:
        raw = base64.b64decode(secret[len("whsec_"):] + "==", validate=False)
    except (binascii.Error, ValueError):
        raise ConfigurationError("CONNECTOR_OUTBOUND_WEBHOOK_SECRET", "is not whsec_ followed by base64") from None
    if len(raw) < 24:
        raise ConfigurationError("CONNECTOR_OUTBOUND_WEBHOOK_SECRET", "must hold at least 24 random bytes")




def _notification_delivery(env: Mapping[str, str]) -> tuple[str, str | None]:
    """CONNECTOR_GRAPH_NOTIFICATION_DELIVERY, and with eventGrid the partner topic's URL Graph publishes to."""
    value = read_text(env, "CONNECTOR_GRAPH_NOTIFICATION_DELIVERY") or "webhook"
    delivery = next((d for d in NOTIFICATION_DELIVERIES if d.lower() == value.lower()), None)
    if delivery is None:
        raise ConfigurationError("CONNECTOR_GRAPH_NOTIFICATION_DELIVERY",
                                 f"must be one of {', '.join(NOTIFICATION_DELIVERIES)}")
    url = read_text(env, "CONNECTOR_GRAPH_EVENTGRID_NOTIFICATION_URL")
    if url is not None:
        _check_eventgrid_url(url)
    elif delivery == "eventGrid":
        raise ConfigurationError("CONNECTOR_GRAPH_EVENTGRID_NOTIFICATION_URL",
                                 "is required when CONNECTOR_GRAPH_NOTIFICATION_DELIVERY is eventGrid (the deployment"
                                 " output graphEventGridNotificationUrl)")
    return delivery, url


def _check_eventgrid_url(url: str) -> None:
    from urllib.parse import parse_qs

    prefix = "EventGrid:?"
    query = parse_qs(url[len(prefix):]) if url.startswith(prefix) else {}
    missing = [name for name in EVENTGRID_URL_PARAMETERS if not (query.get(name) or [""])[0].strip()]
    if missing:
        raise ConfigurationError("CONNECTOR_GRAPH_EVENTGRID_NOTIFICATION_URL",
                                 "must look like EventGrid:?azuresubscriptionid=<id>&resourcegroup=<group>"
                                 f"&partnertopic=<topic>&location=<region name> (missing: {', '.join(missing)})")


def _telemetry(env: Mapping[str, str]) -> TelemetrySettings:
    exporter = (read_text(env, "CONNECTOR_OTEL_EXPORTER") or "").lower()
    if exporter not in TELEMETRY_EXPORTERS:
        raise ConfigurationError("CONNECTOR_OTEL_EXPORTER", "must be console, otlp or empty")
    return TelemetrySettings(connection_string=read_text(env, "APPLICATIONINSIGHTS_CONNECTION_STRING"),
                             exporter=exporter)


def _breaker(env: Mapping[str, str]) -> BreakerLimits:
    """The mass-deletion breaker's limits; 0 switches one off."""
    defaults = BreakerLimits()
    share_text = read_text(env, "CONNECTOR_BREAKER_MAX_SHARE")
    share = defaults.max_share
    if share_text is not None:
        try:
            share = float(share_text)
        except ValueError:
            share = -1.0
        if not 0 <= share <= 1:
            raise ConfigurationError("CONNECTOR_BREAKER_MAX_SHARE", "must be a fraction from 0 to 1, such as 0.5")
    return BreakerLimits(
        max_deletes=read_int(env, "CONNECTOR_BREAKER_MAX_DELETES", defaults.max_deletes, minimum=0,
                             maximum=1_000_000),
        window_minutes=read_int(env, "CONNECTOR_BREAKER_WINDOW_MINUTES", defaults.window_minutes, minimum=1,
                                maximum=1440),
        max_deletes_per_mailbox=read_int(env, "CONNECTOR_BREAKER_MAX_DELETES_PER_MAILBOX",
                                         defaults.max_deletes_per_mailbox, minimum=0, maximum=1_000_000),
        max_share=share,
        min_population=read_int(env, "CONNECTOR_BREAKER_MIN_POPULATION", defaults.min_population, minimum=1,
                                maximum=1_000_000),
    )


def _operator_audiences(env: Mapping[str, str], client_id: str | None) -> tuple[str, ...]:
    """CONNECTOR_OPERATOR_AUDIENCE: comma-separated; by default the app registration's client id (the audience
    of a v2.0 token) and its application ID URI ``api://{client id}`` (the audience of a v1.0 token)."""
    given = tuple(a.strip() for a in (read_text(env, "CONNECTOR_OPERATOR_AUDIENCE") or "").split(",") if a.strip())
    if given:
        return given
    return (client_id, f"api://{client_id}") if client_id else ()


DRIFT_MODES = ("restore", "report")
DEFAULT_DRIFT_SCHEDULE = "0 30 2 * * *"  # NCRONTAB: daily at 02:30 UTC


@dataclass(frozen=True)
class DriftSettings:
    """Drift repair: restore hand edits (or only report them), when the timer runs, how far ahead it looks."""

    mode: str = "restore"
    schedule: str = DEFAULT_DRIFT_SCHEDULE
    days_forward: int = 365


def _drift(env: Mapping[str, str]) -> DriftSettings:
    mode = (read_text(env, "CONNECTOR_DRIFT_MODE") or "restore").lower()
    if mode not in DRIFT_MODES:
        raise ConfigurationError("CONNECTOR_DRIFT_MODE", f"must be one of {', '.join(DRIFT_MODES)}")
    return DriftSettings(
        mode=mode,
        schedule=read_schedule(env, "CONNECTOR_DRIFT_SCHEDULE", DEFAULT_DRIFT_SCHEDULE),
        days_forward=read_int(env, "CONNECTOR_DRIFT_DAYS_FORWARD", 365, minimum=1, maximum=3650),
    )


APPOINTMENT_AUTH_MODES = ("auto", "delegated", "application")


def _appointment_auth(env: Mapping[str, str]) -> str:
    value = (read_text(env, "CONNECTOR_APPOINTMENT_AUTH") or "auto").lower()
    if value not in APPOINTMENT_AUTH_MODES:
        raise ConfigurationError("CONNECTOR_APPOINTMENT_AUTH", f"must be one of {', '.join(APPOINTMENT_AUTH_MODES)}")
    return value


@dataclass(frozen=True)
class PeopleSettings:
    """Delegated connections (design.md section 11). Without an encryption key no person can connect."""

    # AES-256 keys of the stored token caches (and of the signed connect state); the first encrypts, all decrypt.
    token_keys: tuple[bytes, ...] = field(default=(), repr=False)
    # Where a connect flow may return the browser to: a returnUrl must start with one of these.
    return_urls: tuple[str, ...] = ()
    # The mailbox that tells a person to reconnect (Graph sendMail, application permission Mail.Send); None: no mail.
    reconnect_mail_from: str | None = None


def _people(env: Mapping[str, str]) -> PeopleSettings:
    import base64
    import binascii

    keys: list[bytes] = []
    for text in (read_text(env, "CONNECTOR_TOKEN_ENCRYPTION_KEY") or "").split(","):
        if not text.strip():
            continue
        try:
            key = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise ConfigurationError("CONNECTOR_TOKEN_ENCRYPTION_KEY",
                                     "each key must be 32 random bytes in base64 (comma-separated for rotation)")
        keys.append(key)
    prefixes = tuple(p.strip() for p in (read_text(env, "CONNECTOR_CONNECT_RETURN_URLS") or "").split(",")
                     if p.strip())
    for prefix in prefixes:
        scheme, _, rest = prefix.partition("://")
        host = rest.split("/", 1)[0]
        if scheme not in ("https", "http") or not host or (scheme == "http" and not is_loopback(host.split(":")[0])):
            raise ConfigurationError("CONNECTOR_CONNECT_RETURN_URLS",
                                     "each entry must be an https URL prefix such as https://app.example.com/")
        if "/" not in rest:
            raise ConfigurationError("CONNECTOR_CONNECT_RETURN_URLS",
                                     f"{prefix} must end with a path (at least /), so a look-alike host cannot match")
    sender = read_text(env, "CONNECTOR_RECONNECT_MAIL_FROM")
    if sender is not None and "@" not in sender:
        raise ConfigurationError("CONNECTOR_RECONNECT_MAIL_FROM", "must be a mailbox address")
    return PeopleSettings(token_keys=tuple(keys), return_urls=prefixes, reconnect_mail_from=sender)


def _coalesce_max(env: Mapping[str, str]) -> int:
    window = read_int(env, "CONNECTOR_COALESCE_WINDOW_MS", DEFAULT_COALESCE_WINDOW_MS, minimum=0, maximum=60_000)
    cap = read_int(env, "CONNECTOR_COALESCE_MAX_MS", 5000, minimum=0, maximum=600_000)
    if window and cap < window:
        raise ConfigurationError("CONNECTOR_COALESCE_MAX_MS",
                                 f"must be at least CONNECTOR_COALESCE_WINDOW_MS ({window})")
    return cap
