from __future__ import annotations

import pytest

from shared.config import Settings
from shared.errors import ConfigurationError

BASE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "CONNECTOR_LOCAL_QUEUE_PATH": "/tmp/q.sqlite3"}
GRAPH = {"CALENDAR_MSGRAPH_SYNCHRONIZE": "true", "CALENDAR_MSGRAPH_TENANT_GUID": "t",
         "CALENDAR_MSGRAPH_CLIENT_ID": "c", "CALENDAR_MSGRAPH_CLIENT_SECRET": "very-secret-value"}


def test_defaults_are_the_seed_connectors() -> None:
    settings = Settings.from_env(BASE)
    assert settings.synchronize is False
    assert settings.graph_endpoint == "https://graph.microsoft.com/v1.0"
    assert settings.auth_endpoint == "https://login.microsoftonline.com"
    assert settings.scopes == ("https://graph.microsoft.com/.default",)
    assert settings.lookup_principal_name is False
    assert settings.time_zone.iana == "Europe/Berlin" and settings.time_zone.windows == "W. Europe Standard Time"
    assert settings.days_back == 365


def test_a_windows_time_zone_name_is_accepted() -> None:
    settings = Settings.from_env({**BASE, "CALENDAR_MSGRAPH_TIME_ZONE": "Pacific Standard Time"})
    assert settings.time_zone.iana == "America/Los_Angeles"


@pytest.mark.parametrize("name,value,problem", [
    ("CALENDAR_MSGRAPH_SYNCHRONIZE", "maybe", "must be true or false"),
    ("CALENDAR_MSGRAPH_DAYS_BACK", "-1", "must be between 0 and 3650"),
    ("CALENDAR_MSGRAPH_DAYS_BACK", "a year", "must be a whole number"),
    ("CALENDAR_MSGRAPH_TIME_ZONE", "Mars/Olympus", "unknown time zone"),
    ("CALENDAR_MSGRAPH_GRAPH_ENDPOINT", "http://graph.example.com/v1.0", "must use https"),
    ("CALENDAR_MSGRAPH_AUTH_ENDPOINT", "not a url", "must be an absolute URL"),
    ("CONNECTOR_TABLE_PREFIX", "bad-prefix", "letters and digits"),
])
def test_a_malformed_setting_is_named_with_what_is_wrong(name: str, value: str, problem: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({**BASE, name: value})
    assert caught.value.setting == name and problem in str(caught.value)
    assert str(caught.value).startswith(f"setting {name}: ")


def test_graph_credentials_are_required_only_when_synchronizing() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({**BASE, **GRAPH, "CALENDAR_MSGRAPH_CLIENT_SECRET": ""})
    assert caught.value.setting == "CALENDAR_MSGRAPH_CLIENT_SECRET"


def test_the_secret_never_shows_in_the_settings_repr() -> None:
    settings = Settings.from_env({**BASE, **GRAPH})
    assert "very-secret-value" not in repr(settings)


def test_plain_http_is_allowed_to_loopback_only() -> None:
    settings = Settings.from_env({**BASE, "CALENDAR_MSGRAPH_GRAPH_ENDPOINT": "http://127.0.0.1:8443/v1.0"})
    assert settings.graph_endpoint == "http://127.0.0.1:8443/v1.0"


def test_missing_storage_and_queue_connections_are_named() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"CONNECTOR_LOCAL_QUEUE_PATH": "/tmp/q"})
    assert caught.value.setting == "TableStorage__endpoint"
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    assert caught.value.setting == "ServiceBusConnection__fullyQualifiedNamespace"


def test_identity_based_connections_are_understood() -> None:
    settings = Settings.from_env({"TableStorage__endpoint": "https://acct.table.core.windows.net",
                                  "ServiceBusConnection__fullyQualifiedNamespace": "ns.servicebus.windows.net"})
    assert settings.tables.endpoint == "https://acct.table.core.windows.net"
    assert settings.queue.fully_qualified_namespace == "ns.servicebus.windows.net"


@pytest.mark.parametrize("name,reference,vault,secret", [
    ("CONNECTOR_CLIENT_STATE_KEY",
     "@Microsoft.KeyVault(SecretUri=https://kv-calconn-dev.vault.azure.net/secrets/connector-client-state-key/)",
     "kv-calconn-dev", "connector-client-state-key"),
    ("CALENDAR_MSGRAPH_CLIENT_SECRET",
     "@Microsoft.KeyVault(SecretUri=https://kv-x.vault.azure.net/secrets/graph-client-secret/ec96f02080254f10)",
     "kv-x", "graph-client-secret"),
    ("CONNECTOR_OUTBOUND_WEBHOOK_SECRET", "@Microsoft.KeyVault(VaultName=kv-y;SecretName=outbound-webhook-secret)",
     "kv-y", "outbound-webhook-secret"),
    ("CALENDAR_MSGRAPH_TIME_ZONE", " @microsoft.keyvault(VaultName=kv-z;SecretName=tz;SecretVersion=abc) ",
     "kv-z", "tz"),
])
def test_an_unresolved_key_vault_reference_fails_naming_setting_vault_and_missing_piece(
    name: str, reference: str, vault: str, secret: str
) -> None:
    """App Service leaves the reference text in place when it cannot resolve it; that text is never a value."""
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({**BASE, **GRAPH, name: reference})
    message = str(caught.value)
    assert caught.value.setting == name
    assert "\n" not in message
    assert f"vault {vault}" in message and f"secret {secret}" in message
    assert "Key Vault Secrets User" in message


def test_a_value_that_merely_mentions_key_vault_is_a_value() -> None:
    settings = Settings.from_env({**BASE, "CONNECTOR_CLIENT_STATE_KEY": "x@Microsoft.KeyVault(not-a-reference)yz"})
    assert settings.rooms.client_state_keys == (b"x@Microsoft.KeyVault(not-a-reference)yz",)
