from __future__ import annotations

import pytest

from shared.config import Settings
from shared.errors import ConfigurationError

BASE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "CONNECTOR_LOCAL_QUEUE_PATH": "/tmp/q.sqlite3"}
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def parse(**env: str) -> Settings:
    return Settings.from_env({**BASE, **env})


class TestRoomSettings:
    def test_defaults(self) -> None:
        rooms = parse().rooms
        assert rooms.public_base_url == "http://127.0.0.1:7071"
        assert rooms.outbound_webhook_url is None and rooms.client_state_keys == ()
        assert rooms.booking_mode == "organizer"
        assert rooms.subscription_renewal_schedule == "0 */30 * * * *"

    def test_secrets_parse_and_stay_out_of_repr(self) -> None:
        settings = parse(CONNECTOR_OUTBOUND_WEBHOOK_URL="https://booking.example.com/hook",
                         CONNECTOR_OUTBOUND_WEBHOOK_SECRET=WHSEC,
                         CONNECTOR_CLIENT_STATE_KEY="new-key-0123456789abcdef, old-key-0123456789abcdef")
        assert settings.rooms.client_state_keys == (b"new-key-0123456789abcdef", b"old-key-0123456789abcdef")
        assert WHSEC not in repr(settings) and "new-key" not in repr(settings)

    @pytest.mark.parametrize(("env", "setting"), [
        ({"CONNECTOR_OUTBOUND_WEBHOOK_URL": "https://booking.example.com/hook"}, "CONNECTOR_OUTBOUND_WEBHOOK_SECRET"),
        ({"CONNECTOR_OUTBOUND_WEBHOOK_URL": "http://booking.example.com/hook",
          "CONNECTOR_OUTBOUND_WEBHOOK_SECRET": WHSEC}, "CONNECTOR_OUTBOUND_WEBHOOK_URL"),
        ({"CONNECTOR_OUTBOUND_WEBHOOK_SECRET": "plain-secret"}, "CONNECTOR_OUTBOUND_WEBHOOK_SECRET"),
        ({"CONNECTOR_OUTBOUND_WEBHOOK_SECRET": "whsec_c2hvcnQ="}, "CONNECTOR_OUTBOUND_WEBHOOK_SECRET"),
        ({"CONNECTOR_CLIENT_STATE_KEY": "short"}, "CONNECTOR_CLIENT_STATE_KEY"),
        ({"CONNECTOR_ROOM_BOOKING_MODE": "shared"}, "CONNECTOR_ROOM_BOOKING_MODE"),
        ({"CONNECTOR_PUBLIC_BASE_URL": "http://connector.example.com"}, "CONNECTOR_PUBLIC_BASE_URL"),
        ({"CONNECTOR_USERS_DIRECTORY_SCHEDULE": "*/5 * * * *"}, "CONNECTOR_USERS_DIRECTORY_SCHEDULE"),
    ])
    def test_bad_values_name_the_setting_without_echoing_secrets(self, env: dict[str, str], setting: str) -> None:
        with pytest.raises(ConfigurationError) as raised:
            parse(**env)
        assert raised.value.setting == setting
        assert "plain-secret" not in str(raised.value)
