"""The storm workload of the benchmark at a small size through the local stack: Graph requests per task stay at
or under the count recorded in benchmarks/storm-threshold.json, so coalescing cannot silently regress. A count of
requests at the Graph stand-in, never a time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.graphstub import Limits, RunningStub, start_stub
from benchmarks.run import parser, storm
from benchmarks.systems import Connector
from tests.support.builders import require_azurite

THRESHOLD = Path(__file__).resolve().parents[2] / "benchmarks" / "storm-threshold.json"

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStub]:
    # A generous budget: this check counts requests; throttling is the hot workload's business.
    running = start_stub(tmp_path_factory.mktemp("stub"), Limits(latency_ms=20, budget=10_000, window=10))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def connector(stub: RunningStub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Connector]:
    require_azurite()
    system = Connector(stub, tmp_path_factory.mktemp("stack"))
    yield system
    system.stop()


def test_a_storm_of_reschedules_costs_at_most_the_recorded_graph_requests_per_task(
        connector: Connector, stub: RunningStub) -> None:
    recorded = json.loads(THRESHOLD.read_text())
    args = parser().parse_args(["--storm-tasks", str(recorded["tasks"]),
                                "--storm-revisions", str(recorded["revisions"]),
                                "--storm-mailboxes", str(recorded["mailboxes"])])
    figures = storm(connector, stub, args)  # waits until every calendar shows every task's last revision

    assert stub.stats()["unsupported"] == []
    assert figures["requests_per_task"] <= recorded["max_graph_requests_per_task"], (
        f"{figures['requests_per_task']:.2f} Graph requests per task; at most "
        f"{recorded['max_graph_requests_per_task']} recorded in {THRESHOLD.name}")
