"""The host as a subprocess (``python -m local.funchost``), as the end-to-end tests run it."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.funchost import (
    BUILT_IN_ROUTE_CONFLICT,
    FUNCTION_KEY_ENV,
    LOCK_SECONDS_ENV,
    MASTER_KEY_ENV,
    QUEUE_PATH_ENV,
    HostProcess,
    HostStartError,
)
from local.funchost.queue_store import LocalQueueStore
from shared.app.messaging import OutboundMessage

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_APP = "tests.funchost.funchost_sample_app"
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            QUEUE_PATH_ENV: str(tmp_path / "queue.sqlite3"),
            "SAMPLE_SCHEDULE": "0 0 0 1 1 *",
            MASTER_KEY_ENV: "test-master",
            FUNCTION_KEY_ENV: "test-function",
        }
    )
    return env


def spawn(env: dict[str, str], tmp_path: Path, app: str = SAMPLE_APP, **kwargs: Any) -> HostProcess:
    kwargs.setdefault("settings_file", str(tmp_path / "absent.settings.json"))
    return HostProcess(app, cwd=REPO_ROOT, env=env, state_dir=tmp_path / "state", **kwargs)


def records(proc: HostProcess) -> dict[str, Any]:
    return httpx.get(f"{proc.base_url}/api/sample/records").json()


@pytest.mark.parametrize("app", ["tests.funchost.funchost_admin_route_app", "tests.funchost.funchost_admin_name_app"])
def test_an_admin_route_or_name_makes_the_process_exit_non_zero(env: dict[str, str], tmp_path: Path, app: str) -> None:
    with pytest.raises(HostStartError) as failed:
        spawn(env, tmp_path, app).start()
    assert failed.value.returncode not in (0, None)
    assert BUILT_IN_ROUTE_CONFLICT in failed.value.output
    assert ("'things'" if "route" in app else "'adminCleanup'") in failed.value.output


def test_the_settings_file_fills_in_without_overriding_the_environment(env: dict[str, str], tmp_path: Path) -> None:
    settings = tmp_path / "local.settings.json"
    values = {"SAMPLE_ONLY_IN_FILE": "from-file", "SAMPLE_BOTH": "from-file", "SAMPLE_SCHEDULE": "bad"}
    settings.write_text(json.dumps({"IsEncrypted": False, "Values": values}))
    env["SAMPLE_BOTH"] = "from-env"
    with spawn(env, tmp_path, settings_file=str(settings)) as proc:
        read = lambda name: httpx.get(f"{proc.base_url}/api/sample/env/{name}").json()["value"]  # noqa: E731
        assert read("SAMPLE_ONLY_IN_FILE") == "from-file"
        assert read("SAMPLE_BOTH") == "from-env"
        assert read("SAMPLE_SCHEDULE") == "0 0 0 1 1 *"
        assert read(QUEUE_PATH_ENV) == env[QUEUE_PATH_ENV]


def test_sigterm_ends_the_process_cleanly_after_the_in_flight_message(
    env: dict[str, str], tmp_path: Path, wait_for: Any
) -> None:
    proc = spawn(env, tmp_path).start()
    assert proc.master_key == "test-master"
    status = httpx.get(f"{proc.base_url}/admin/host/status", headers={"x-functions-key": proc.master_key})
    assert status.json()["state"] == "Running"
    store = LocalQueueStore(env[QUEUE_PATH_ENV])
    store.send("sample-work", [OutboundMessage(json.dumps({"n": 1, "sleep": 1}).encode(), "m1", "S")])
    wait_for(lambda: records(proc)["attempts"])
    assert proc.stop() == 0
    assert store.counts("sample-work") == {"active": 0, "scheduled": 0, "locked": 0, "dead_lettered": 0}
    assert "Executed 'Functions.work' (Succeeded" in proc.output


def test_a_message_in_flight_when_the_host_is_killed_is_redelivered_after_restart(
    env: dict[str, str], tmp_path: Path, wait_for: Any
) -> None:
    env[LOCK_SECONDS_ENV] = "1"
    proc = spawn(env, tmp_path).start()
    store = LocalQueueStore(env[QUEUE_PATH_ENV])
    body = json.dumps({"n": 7, "sleep_first": 60}).encode()
    store.send("sample-work", [OutboundMessage(body, "m7", "S")])
    wait_for(lambda: records(proc)["attempts"])
    proc.kill()

    proc.start()
    [entry] = wait_for(lambda: records(proc)["processed"])
    assert (entry["n"], entry["delivery_count"]) == (7, 2)
    assert proc.stop() == 0


@pytest.mark.parametrize("stream_log", [False, True])
def test_the_hosts_log_goes_to_its_file_and_to_the_console_only_when_streamed(
    env: dict[str, str], tmp_path: Path, wait_for: Any, capsys: pytest.CaptureFixture[str], stream_log: bool
) -> None:
    log_path = tmp_path / "logs" / "host.log"
    with spawn(env, tmp_path, log_path=log_path, stream_log=stream_log) as proc:
        assert httpx.get(f"{proc.base_url}/api/greet/ada").status_code == 200
        wait_for(lambda: "Executed 'Functions.greet' (Succeeded" in log_path.read_text())
    proc.start()  # a restart appends to the same file
    proc.stop()
    logged = wait_for(lambda: log_path.read_text() == proc.output and proc.output)  # the reader drains the pipe
    assert re.search(r"Executed 'Functions\.greet' \(Succeeded, Id=[0-9a-f-]{36}, Duration=\d+ms\)", logged)
    assert logged.count("funchost ready") == 2
    for key in (env[MASTER_KEY_ENV], env[FUNCTION_KEY_ENV]):
        assert key not in logged
    printed = capsys.readouterr().out
    assert ("Executed 'Functions.greet' (Succeeded" in printed) is stream_log
