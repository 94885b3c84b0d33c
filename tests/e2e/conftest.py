from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from local.stack import LocalStack
from tests.support.builders import require_azurite

ALL_USERS = {
    "anna.berger@contoso.com": "Anna Berger",
    "ben.okafor@contoso.com": "Ben Okafor",
    "carla.silva@contoso.com": "Carla Silva",
    **{f"worker{i:02d}@contoso.com": f"Worker {i:02d}" for i in range(20)},
}


def running_stack(state_dir: Path) -> Iterator[LocalStack]:
    """A started stack for a fixture to yield; stopped when the fixture ends."""
    require_azurite()
    running = LocalStack(state_dir=state_dir, port=0, users=ALL_USERS, lock_seconds=2).start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    yield from running_stack(Path(tmp_path_factory.mktemp("stack")))


@pytest.fixture(autouse=True)
def clean_simulator(stack: LocalStack) -> Iterator[None]:
    assert stack.simulator is not None
    stack.simulator.state.reset()
    yield
    stack.simulator.state.reset()


def wait_for(condition: Callable[[], object], timeout: float = 60, message: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"{message} not met within {timeout} s")


def wait_until_steady(condition: Callable[[], object], hold: float = 0.3, timeout: float = 60,
                      message: str = "condition") -> None:
    """Until ``condition`` has held at every poll for ``hold`` seconds (work in flight may briefly show idle
    queues: a function between its completion and the message it sends next)."""
    deadline = time.monotonic() + timeout
    since: float | None = None
    while time.monotonic() < deadline:
        now = time.monotonic()
        if not condition():
            since = None
        elif since is None:
            since = now
        elif now - since >= hold:
            return
        time.sleep(0.05)
    raise AssertionError(f"{message} not steady for {hold} s within {timeout} s")


def dead_letters_of(stack: LocalStack, events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The dead letters of these CloudEvents only: the stack is shared, so other tests' leftovers don't count."""
    ids = {(e["source"], e["id"]) for e in events}
    records = stack.admin("GET", "/api/manage/deadletters").json()["value"]
    return [r for r in records if _identity(r["body"]) in ids]


def _identity(body: str) -> tuple[str, str] | None:
    try:
        event = json.loads(body)
    except ValueError:
        return None
    return (event.get("source"), event.get("id")) if isinstance(event, dict) else None


_BURN = "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end:\n    pass\n"


@pytest.fixture
def cpu_hog() -> Iterator[Callable[[float], None]]:
    """Start one CPU-burning process per core (each stops by itself after ``seconds``); all are ended after
    the test, by their own process ids."""
    started: list[subprocess.Popen[bytes]] = []

    def start(seconds: float) -> None:
        for _ in range(os.cpu_count() or 2):
            started.append(subprocess.Popen([sys.executable, "-c", _BURN, str(seconds)]))

    yield start
    for process in started:
        process.terminate()
    for process in started:
        process.wait(timeout=10)
