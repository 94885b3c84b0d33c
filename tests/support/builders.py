"""Planning events and the composition root's container for tests, with fakes and sensible defaults."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.app.ports.telemetry import Telemetry
from shared.bootstrap import Container
from shared.config import Settings
from tests.fakes.breakers import InMemoryBreakerStore
from tests.fakes.credentials import FakeState
from tests.fakes.planning import (
    FakeCalendar,
    InMemoryDeadLetterStore,
    InMemoryDriftReportStore,
    InMemoryMappingStore,
    InMemoryResourceStore,
)
from tests.fakes.queue import RecordingQueue

if TYPE_CHECKING:
    from local.graphsim.server import RunningSimulator

SOURCE = "https://planning.example.com/omd"
_ids = itertools.count(1)


def task_data(resource: str = "anna@contoso.com", start: str = "2026-05-04T08:00:00+02:00",
              end: str = "2026-05-04T10:00:00+02:00", title: str = "Boiler service", **extra: Any) -> dict[str, Any]:
    return {"resource": {"email": resource, "name": resource.split("@")[0].title()}, "start": start, "end": end,
            "title": title, **extra}


def cloud_event(type_: str, subject: str, data: dict[str, Any] | None = None, *, sequence: int | None = None,
                time: datetime | None = None, event_id: str | None = None, source: str = SOURCE) -> dict[str, Any]:
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id or f"evt-{next(_ids)}",
        "source": source,
        "type": type_,
        "subject": subject,
        "time": (time or datetime(2026, 5, 1, 12, 0, tzinfo=UTC)).isoformat(),
    }
    if sequence is not None:
        event["sequence"] = str(sequence)
    if data is not None:
        event["data"] = data
    return event


def body(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode("utf-8")


@dataclass
class FakeWorld:
    calendar: FakeCalendar = field(default_factory=FakeCalendar)
    mappings: InMemoryMappingStore = field(default_factory=InMemoryMappingStore)
    resources: InMemoryResourceStore = field(default_factory=InMemoryResourceStore)
    deadletters: InMemoryDeadLetterStore = field(default_factory=InMemoryDeadLetterStore)
    queue: RecordingQueue = field(default_factory=RecordingQueue)
    credential_state: FakeState = field(default_factory=FakeState)
    breakers: InMemoryBreakerStore = field(default_factory=InMemoryBreakerStore)
    now: datetime = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    drift_reports: InMemoryDriftReportStore = field(default_factory=InMemoryDriftReportStore)

    def services(self, *, telemetry: Telemetry | None = None, **settings: Any) -> Container:
        """The container over this world's fakes (a credential runtime, if given, brings its own)."""
        values = {"synchronize": True, "tenant_id": "t", "client_id": "c", "client_secret": "s", **settings}
        return Container(Settings(**values), queue=self.queue, mappings=self.mappings, resources=self.resources,
                         deadletters=self.deadletters, calendar=self.calendar, clock=lambda: self.now,
                         credential_state=self.credential_state, telemetry=telemetry, breakers=self.breakers,
                         drift_reports=self.drift_reports)

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def require_azurite() -> None:
    """Skip without Azurite on a developer's machine; under CI a missing Azurite is a failure."""
    import os

    import pytest

    from local.azurite import azurite_command

    try:
        azurite_command()
    except FileNotFoundError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))


def sim_settings(sim: RunningSimulator, **extra: Any) -> Settings:
    """Settings that reach the Graph simulator as its app registration client-1 (secret-1)."""
    assert sim.state.apps  # the app registration exists
    tenant = next(iter(sim.state.tenants()))
    return Settings(synchronize=True, tenant_id=tenant, client_id="client-1", client_secret="secret-1",
                    graph_endpoint=sim.graph_endpoint, auth_endpoint=sim.auth_endpoint, ca_file=str(sim.ca_path),
                    **extra)
