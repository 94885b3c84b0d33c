"""host.json functionTimeout and Service Bus lock expiry, as the Functions host and the broker enforce them.

Durations are shrunk through host.json and the queue's lock duration so each case runs in seconds.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import pytest

from local.funchost import LOCK_SECONDS_ENV
from local.funchost.settings import HostOptions, parse_timespan
from tests.funchost.test_funchost_queue import QUEUE, message, store


def host_json(tmp_path: Path, *, timeout: str, renewal: str) -> Path:
    path = tmp_path / "host.json"
    path.write_text(json.dumps({"version": "2.0", "functionTimeout": timeout,
                                "extensions": {"serviceBus": {"maxAutoLockRenewalDuration": renewal}}}))
    return path


class TestHostJsonDurations:
    @pytest.mark.parametrize(("text", "seconds"), [("00:10:00", 600), ("00:00:01.5", 1.5), ("1.02:00:00", 93600),
                                                   ("-1", None)])
    def test_timespans_are_read_as_the_host_reads_them(self, text: str, seconds: float | None) -> None:
        assert parse_timespan(text) == seconds

    def test_a_malformed_timespan_is_refused(self) -> None:
        with pytest.raises(ValueError, match="not a TimeSpan"):
            parse_timespan("10 minutes")

    def test_the_timeout_and_lock_renewal_come_from_host_json(self, tmp_path: Path) -> None:
        options = HostOptions.from_host_json(host_json(tmp_path, timeout="00:04:00", renewal="00:06:00"))
        assert (options.function_timeout_seconds, options.max_lock_renewal_seconds) == (240, 360)

    def test_without_settings_the_flex_consumption_defaults_apply(self, tmp_path: Path) -> None:
        options = HostOptions.from_host_json(tmp_path / "absent.json")
        assert (options.function_timeout_seconds, options.max_lock_renewal_seconds) == (1800, 300)
        unlimited = HostOptions.from_host_json(host_json(tmp_path, timeout="-1", renewal="-1"))
        assert unlimited.function_timeout_seconds is None and unlimited.max_lock_renewal_seconds == math.inf


def test_an_invocation_past_the_function_timeout_is_cancelled_and_its_message_redelivered(
    start_host: Any, sample: Any, host_env: Path, wait_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="funchost")
    start_host(host_json=host_json(host_env, timeout="00:00:00.5", renewal="00:05:00"))
    q = store()
    # The first delivery would run for a minute; the host cancels it and the queue redelivers.
    q.send(QUEUE, [message(1, "slow", sleep_first=60)])
    [done] = wait_for(lambda: sample.processed)
    assert done["delivery_count"] == 2
    assert [a["delivery_count"] for a in sample.attempts] == [1, 2]
    assert "Timeout value of 00:00:00.500 was exceeded by function: Functions.work" in caplog.text
    assert "Executed 'Functions.work' (Failed" in caplog.text
    assert wait_for(lambda: q.counts(QUEUE) == {"active": 0, "scheduled": 0, "locked": 0, "dead_lettered": 0})


def test_when_lock_renewal_stops_the_message_goes_to_another_receiver_while_the_first_still_runs(
    start_host: Any, sample: Any, host_env: Path, wait_for: Any, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="funchost")
    monkeypatch.setenv(LOCK_SECONDS_ENV, "0.3")
    start_host(host_json=host_json(host_env, timeout="00:01:00", renewal="00:00:00.5"))
    q = store()
    q.send(QUEUE, [message(1, "long", sleep_first=3)])
    # Renewal ends, the lock lapses, and the same session is handed out again with the count raised.
    wait_for(lambda: [a["delivery_count"] for a in sample.attempts] == [1, 2])
    assert sample.overlaps == ["long"], "two invocations of one session at once, as on Service Bus"
    wait_for(lambda: len(sample.processed) == 2)
    assert wait_for(lambda: "lock lost" in caplog.text), "the first invocation could not complete its message"
    assert wait_for(lambda: q.counts(QUEUE) == {"active": 0, "scheduled": 0, "locked": 0, "dead_lettered": 0})
