"""The local stack takes the connector's settings from its environment and keeps the host's log in a file."""

from __future__ import annotations

import base64
import os
import re
import secrets
from pathlib import Path

import pytest

from local.stack import APP_SETTING, HOST_LOG, LocalStack
from shared.errors import ConfigurationError
from tests.support.builders import require_azurite

USERS = {"anna.berger@contoso.com": "Anna Berger"}


def clean_environ(**settings: str) -> dict[str, str]:
    """This process's environment without any connector setting a developer may have set, plus ``settings``."""
    return {name: value for name, value in os.environ.items() if not APP_SETTING.match(name)} | settings


@pytest.mark.e2e  # starts the whole stack
def test_settings_in_the_environment_reach_the_host_and_replace_the_local_receiver(tmp_path: Path) -> None:
    require_azurite()
    given = {
        "CONNECTOR_OUTBOUND_WEBHOOK_URL": "https://booking.example.com/hooks/calendar",
        "CONNECTOR_OUTBOUND_WEBHOOK_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "CONNECTOR_CLIENT_STATE_KEY": secrets.token_urlsafe(32),
        "CALENDAR_MSGRAPH_TIME_ZONE": "America/New_York",  # dropped before, whenever the simulator ran
    }
    stack = LocalStack(state_dir=tmp_path, port=0, users=USERS, environ=clean_environ(**given)).start()
    try:
        assert stack.booking is None, "no local receiver when the booking system's URL is given"
        assert stack.host is not None and stack.vault is not None and stack.simulator is not None
        assert {name: stack.host.env[name] for name in given} == given
        # With a vault the connector reads the webhook's signing secret from it: the given one.
        assert stack.vault.state.get("outbound-webhook-secret").value == given["CONNECTOR_OUTBOUND_WEBHOOK_SECRET"]
        assert stack.admin("GET", "/api/manage/doctor").status_code == 200, "the host runs with these settings"
        response = stack.post_events([])
        assert response.status_code < 500, response.text
    finally:
        stack.stop()
    log = (tmp_path / HOST_LOG).read_text()
    assert re.search(r"Executed 'Functions\.planning_events' \(Succeeded, Id=[0-9a-f-]{36}, Duration=\d+ms\)", log)
    for secret in (given["CONNECTOR_OUTBOUND_WEBHOOK_SECRET"], given["CONNECTOR_CLIENT_STATE_KEY"]):
        assert secret not in log


def test_the_stack_refuses_a_booking_url_without_its_signing_secret(tmp_path: Path) -> None:
    stack = LocalStack(state_dir=tmp_path, port=0,
                       environ=clean_environ(CONNECTOR_OUTBOUND_WEBHOOK_URL="https://booking.example.com/hooks"))
    with pytest.raises(ConfigurationError) as refused:
        stack.start()
    assert refused.value.setting == "CONNECTOR_OUTBOUND_WEBHOOK_SECRET"
    assert stack.azurite is None, "refused before anything started"


def test_one_graph_endpoint_without_the_other_is_refused(tmp_path: Path) -> None:
    stack = LocalStack(state_dir=tmp_path, environ=clean_environ(
        CALENDAR_MSGRAPH_GRAPH_ENDPOINT="https://graph.microsoft.com/v1.0"))
    with pytest.raises(ConfigurationError) as refused:
        assert stack.uses_simulator
    assert refused.value.setting == "CALENDAR_MSGRAPH_AUTH_ENDPOINT"


def test_settings_passed_in_code_win_over_the_environment(tmp_path: Path) -> None:
    stack = LocalStack(state_dir=tmp_path, lock_seconds=2, settings={"CONNECTOR_TABLE_PREFIX": "fromcode"},
                       environ=clean_environ(CONNECTOR_TABLE_PREFIX="fromenv", CONNECTOR_ROOM_BOOKING_MODE="attendee",
                                             CONNECTOR_LOCAL_QUEUE_LOCK_SECONDS="30", CONNECTOR_EMPTY=" "))
    assert stack.given == {"CONNECTOR_TABLE_PREFIX": "fromcode", "CONNECTOR_ROOM_BOOKING_MODE": "attendee",
                           "CONNECTOR_LOCAL_QUEUE_LOCK_SECONDS": "2"}
