"""Fixtures for the local function host tests: an in-process host over the sample app."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.funchost import FUNCTION_KEY_ENV, MASTER_KEY_ENV, QUEUE_PATH_ENV, LocalFunctionHost
from tests.funchost import funchost_sample_app

SAMPLE_APP = "tests.funchost.funchost_sample_app"
REPO_ROOT = Path(__file__).resolve().parents[2]
NEVER = "0 0 0 1 1 *"  # once a year: the timer only runs when a test asks


def _wait_for(predicate: Callable[[], Any], timeout: float = 20, interval: float = 0.05) -> Any:
    """Poll until ``predicate()`` is truthy and return it; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last value {value!r})")
        time.sleep(interval)


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> Callable[..., Any]:
    return _wait_for


@pytest.fixture
def sample() -> Iterator[Any]:
    funchost_sample_app.reset()
    yield funchost_sample_app
    funchost_sample_app.reset()


@pytest.fixture
def host_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private queue file and schedule; keys generated into tmp_path/state."""
    monkeypatch.setenv(QUEUE_PATH_ENV, str(tmp_path / "queue.sqlite3"))
    monkeypatch.setenv("SAMPLE_SCHEDULE", NEVER)
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    monkeypatch.delenv(FUNCTION_KEY_ENV, raising=False)
    return tmp_path


@pytest.fixture
def start_host(host_env: Path, sample: Any) -> Iterator[Callable[..., LocalFunctionHost]]:
    started: list[LocalFunctionHost] = []

    def start(app: str = SAMPLE_APP, **kwargs: Any) -> LocalFunctionHost:
        kwargs.setdefault("settings_file", None)
        kwargs.setdefault("state_dir", host_env / "state")
        kwargs.setdefault("shutdown_grace_seconds", 5)
        host = LocalFunctionHost(app, **kwargs)
        started.append(host)
        return host.start()

    yield start
    for host in started:
        host.stop()


@pytest.fixture
def host(start_host: Callable[..., LocalFunctionHost]) -> LocalFunctionHost:
    return start_host()


@pytest.fixture
def client(host: LocalFunctionHost) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=host.base_url, timeout=30) as c:
        yield c
