from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

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
