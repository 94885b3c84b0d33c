from __future__ import annotations

import pytest

from shared.config import Settings
from shared.errors import ConfigurationError

BASE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "CONNECTOR_LOCAL_QUEUE_PATH": "/tmp/q.sqlite3",
        "CALENDAR_MSGRAPH_SYNCHRONIZE": "true", "CALENDAR_MSGRAPH_TENANT_GUID": "t", "CALENDAR_MSGRAPH_CLIENT_ID": "c"}
VAULT = "https://contoso-kv.vault.azure.net"


def test_defaults() -> None:
    credential = Settings.from_env({**BASE, "CALENDAR_MSGRAPH_CLIENT_SECRET": "s"}).credential
    assert credential.kind == "secret" and credential.key_vault_url is None
    assert credential.client_secret_name == "graph-client-secret"
    assert credential.outbound_webhook_secret_name == "outbound-webhook-secret"
    assert (credential.rotate_days_before, credential.lifetime_days, credential.grace_hours) == (30, 180, 24)
    assert len(credential.rotate_schedule.split()) == 6  # NCRONTAB


def test_a_vault_url_replaces_the_client_secret() -> None:
    settings = Settings.from_env({**BASE, "CALENDAR_MSGRAPH_KEY_VAULT_URL": VAULT})
    assert settings.client_secret is None and settings.credential.key_vault_url == VAULT + "/"


@pytest.mark.parametrize("env,setting", [
    ({}, "CALENDAR_MSGRAPH_CLIENT_SECRET"),
    ({"CALENDAR_MSGRAPH_CREDENTIAL": "certificate"}, "CALENDAR_MSGRAPH_KEY_VAULT_URL"),
    ({"CALENDAR_MSGRAPH_CREDENTIAL": "federated"}, "AZURE_CLIENT_ID"),
    ({"CALENDAR_MSGRAPH_CREDENTIAL": "password"}, "CALENDAR_MSGRAPH_CREDENTIAL"),
    ({"CALENDAR_MSGRAPH_KEY_VAULT_URL": "http://contoso.vault.azure.net"}, "CALENDAR_MSGRAPH_KEY_VAULT_URL"),
    ({"CALENDAR_MSGRAPH_CLIENT_SECRET_NAME": "no_underscores", "CALENDAR_MSGRAPH_CLIENT_SECRET": "s"},
     "CALENDAR_MSGRAPH_CLIENT_SECRET_NAME"),
    ({"CALENDAR_MSGRAPH_ROTATE_DAYS_BEFORE": "200", "CALENDAR_MSGRAPH_CLIENT_SECRET": "s"},
     "CALENDAR_MSGRAPH_ROTATE_DAYS_BEFORE"),
])
def test_each_kind_names_what_it_needs(env: dict[str, str], setting: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({**BASE, **env})
    assert caught.value.setting == setting


def test_federated_and_certificate_need_no_client_secret() -> None:
    assert Settings.from_env({**BASE, "CALENDAR_MSGRAPH_CREDENTIAL": "federated", "AZURE_CLIENT_ID": "mi"})
    assert Settings.from_env({**BASE, "CALENDAR_MSGRAPH_CREDENTIAL": "certificate",
                              "CALENDAR_MSGRAPH_KEY_VAULT_URL": VAULT})
