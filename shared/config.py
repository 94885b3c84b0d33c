"""Settings: parsed once from app settings (environment) into a frozen value; the parser is pure.

Only ``bootstrap`` hands ``os.environ`` to ``Settings.from_env``. A bad value raises
``ConfigurationError`` naming the setting and what is wrong; secret values never appear in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.domain.timezones import TimeZone, resolve_time_zone
from shared.errors import ConfigurationError
from shared.setting_values import (
    read_bool,
    read_https_url,
    read_int,
    read_schedule,
    read_text,
    read_time_zone,
)

__all__ = ["CREDENTIAL_KINDS", "CredentialSettings", "DriftSettings", "QueueConnection", "Settings", "TablesConnection"]

DEFAULT_GRAPH_ENDPOINT = "https://graph.microsoft.com/v1.0"
DEFAULT_AUTH_ENDPOINT = "https://login.microsoftonline.com"
DEFAULT_SCOPES = "https://graph.microsoft.com/.default"
DEFAULT_PUBLIC_BASE_URL = "http://127.0.0.1:7071"
DEFAULT_RENEWAL_SCHEDULE = "0 */30 * * * *"
DEFAULT_USERS_SCHEDULE = "0 */15 * * * *"
BOOKING_MODES = ("organizer", "room")
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
    drift: DriftSettings = field(default_factory=lambda: DriftSettings())

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
            drift=_drift(env),
        )


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
