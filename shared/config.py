"""Settings: parsed once from app settings (environment) into a frozen value; the parser is pure.

Only ``bootstrap`` hands ``os.environ`` to ``Settings.from_env``. A bad value raises
``ConfigurationError`` naming the setting and what is wrong; secret values never appear in it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from shared.errors import ConfigurationError
from shared.timezones import TimeZone, resolve_time_zone

__all__ = ["QueueConnection", "Settings", "TablesConnection"]

DEFAULT_GRAPH_ENDPOINT = "https://graph.microsoft.com/v1.0"
DEFAULT_AUTH_ENDPOINT = "https://login.microsoftonline.com"
DEFAULT_SCOPES = "https://graph.microsoft.com/.default"
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
    # Extra CA bundle to trust (the local Graph simulator's); None trusts the system store only.
    ca_file: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Parse app settings; raise ``ConfigurationError`` on the first bad one."""
        synchronize = _bool(env, "CALENDAR_MSGRAPH_SYNCHRONIZE", False)
        tenant_id = _text(env, "CALENDAR_MSGRAPH_TENANT_GUID")
        client_id = _text(env, "CALENDAR_MSGRAPH_CLIENT_ID")
        client_secret = _text(env, "CALENDAR_MSGRAPH_CLIENT_SECRET")
        if synchronize:
            for name, value in (
                ("CALENDAR_MSGRAPH_TENANT_GUID", tenant_id),
                ("CALENDAR_MSGRAPH_CLIENT_ID", client_id),
                ("CALENDAR_MSGRAPH_CLIENT_SECRET", client_secret),
            ):
                if not value:
                    raise ConfigurationError(name, "is required when CALENDAR_MSGRAPH_SYNCHRONIZE is true")
        scopes = tuple(
            s for s in (_text(env, "CALENDAR_MSGRAPH_SCOPES") or DEFAULT_SCOPES).replace(",", " ").split() if s
        )
        return cls(
            synchronize=synchronize,
            tenant_id=tenant_id,
            client_id=client_id,
            client_secret=client_secret,
            graph_endpoint=_https_url(env, "CALENDAR_MSGRAPH_GRAPH_ENDPOINT", DEFAULT_GRAPH_ENDPOINT),
            auth_endpoint=_https_url(env, "CALENDAR_MSGRAPH_AUTH_ENDPOINT", DEFAULT_AUTH_ENDPOINT),
            scopes=scopes,
            lookup_principal_name=_bool(env, "CALENDAR_MSGRAPH_LOOKUP_PRINCIPAL_NAME", False),
            time_zone=_time_zone(env, "CALENDAR_MSGRAPH_TIME_ZONE", "Europe/Berlin"),
            days_back=_int(env, "CALENDAR_MSGRAPH_DAYS_BACK", 365, minimum=0, maximum=3650),
            tables=_tables(env),
            queue=_queue(env),
            table_prefix=_table_prefix(env),
            managed_identity_client_id=_text(env, "AZURE_CLIENT_ID"),
            ca_file=_text(env, "SSL_CERT_FILE"),
        )


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = _text(env, name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ConfigurationError(name, f"must be true or false, not {value!r}")


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int) -> int:
    value = _text(env, name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigurationError(name, f"must be a whole number, not {value!r}") from None
    if not minimum <= number <= maximum:
        raise ConfigurationError(name, f"must be between {minimum} and {maximum}, not {number}")
    return number


def _time_zone(env: Mapping[str, str], name: str, default: str) -> TimeZone:
    try:
        return resolve_time_zone(_text(env, name) or default)
    except ValueError as exc:
        raise ConfigurationError(name, str(exc)) from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _https_url(env: Mapping[str, str], name: str, default: str) -> str:
    value = (_text(env, name) or default).rstrip("/")
    parts = urlsplit(value)
    if not parts.hostname:
        raise ConfigurationError(name, f"must be an absolute URL, not {value!r}")
    # Tokens travel to these endpoints: plain http only to this machine.
    if parts.scheme != "https" and not (parts.scheme == "http" and _is_loopback(parts.hostname)):
        raise ConfigurationError(name, "must use https")
    return value


def _tables(env: Mapping[str, str]) -> TablesConnection:
    if endpoint := _text(env, "TableStorage__endpoint"):
        if not endpoint.startswith(("https://", "http://")):
            raise ConfigurationError("TableStorage__endpoint", "must be a URL such as https://<account>.table.core.windows.net")
        return TablesConnection(endpoint=endpoint)
    for name in ("TableStorage", "AzureWebJobsStorage"):
        if value := _text(env, name):
            if value.lower().replace(" ", "") == "usedevelopmentstorage=true":
                return TablesConnection(connection_string=AZURITE_TABLES)
            if "AccountName=" not in value and "TableEndpoint=" not in value:
                raise ConfigurationError(name, "is not a storage connection string")
            return TablesConnection(connection_string=value)
    if account := _text(env, "AzureWebJobsStorage__accountName"):
        return TablesConnection(endpoint=f"https://{account}.table.core.windows.net")
    raise ConfigurationError(
        "TableStorage__endpoint", "is missing (or set TableStorage / AzureWebJobsStorage to a connection string)"
    )


def _queue(env: Mapping[str, str]) -> QueueConnection:
    if path := _text(env, "CONNECTOR_LOCAL_QUEUE_PATH"):
        return QueueConnection(local_path=path)
    if namespace := _text(env, "ServiceBusConnection__fullyQualifiedNamespace"):
        return QueueConnection(fully_qualified_namespace=namespace)
    if value := _text(env, "ServiceBusConnection"):
        if "Endpoint=sb://" not in value:
            raise ConfigurationError("ServiceBusConnection", "is not a Service Bus connection string")
        return QueueConnection(connection_string=value)
    raise ConfigurationError(
        "ServiceBusConnection__fullyQualifiedNamespace", "is missing (or set ServiceBusConnection)"
    )


def _table_prefix(env: Mapping[str, str]) -> str:
    value = _text(env, "CONNECTOR_TABLE_PREFIX") or "connector"
    if not (value.isalnum() and value[0].isalpha() and len(value) <= 40):
        raise ConfigurationError("CONNECTOR_TABLE_PREFIX", "must be letters and digits, starting with a letter")
    return value
