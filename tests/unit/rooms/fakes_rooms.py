"""The room features composed over the fakes of tests/fakes/rooms.py."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.app.credentials.runtime import CredentialRuntime
from shared.app.ports.telemetry import Telemetry
from shared.bootstrap import Container, OrganizerStores, RoomStores
from shared.config import RoomSettings, Settings
from tests.fakes.breakers import InMemoryBreakerStore
from tests.fakes.credentials import FakeState
from tests.fakes.organizers import InMemoryAppointmentWatches, InMemoryOrganizers
from tests.fakes.planning import (
    FakeCalendar,
    InMemoryDeadLetterStore,
    InMemoryDriftReportStore,
    InMemoryMappingStore,
    InMemoryResourceStore,
)
from tests.fakes.queue import RecordingQueue
from tests.fakes.rooms import (
    ANNA,
    FakeRoomGraph,
    FakeSubscriptions,
    FakeWebhook,
    InMemoryLog,
    InMemoryOutbox,
    InMemoryOwnWrites,
    InMemoryReservations,
    InMemoryRooms,
    InMemoryUsers,
)

__all__ = ["ANNA", "KEY", "ROOM", "WHSEC", "RoomWorld"]

KEY = b"unit-test-client-state-key-0001"
ROOM = "room.alpha@contoso.com"
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass
class RoomWorld:
    now: datetime = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    calendar: FakeCalendar = field(default_factory=FakeCalendar)
    queue: RecordingQueue = field(default_factory=RecordingQueue)
    deadletters: InMemoryDeadLetterStore = field(default_factory=InMemoryDeadLetterStore)
    mappings: InMemoryMappingStore = field(default_factory=InMemoryMappingStore)
    rooms: InMemoryRooms = field(default_factory=InMemoryRooms)
    reservations: InMemoryReservations = field(default_factory=InMemoryReservations)
    own_writes: InMemoryOwnWrites = field(default_factory=InMemoryOwnWrites)
    log: InMemoryLog = field(default_factory=InMemoryLog)
    users: InMemoryUsers = field(default_factory=InMemoryUsers)
    outbox: InMemoryOutbox = field(default_factory=InMemoryOutbox)
    webhook: FakeWebhook = field(default_factory=FakeWebhook)
    dropped: Counter[str] = field(default_factory=Counter)
    credential_state: FakeState = field(default_factory=FakeState)
    breakers: InMemoryBreakerStore = field(default_factory=InMemoryBreakerStore)
    drift_reports: InMemoryDriftReportStore = field(default_factory=InMemoryDriftReportStore)
    organizers: InMemoryOrganizers = field(default_factory=InMemoryOrganizers)
    watches: InMemoryAppointmentWatches = field(default_factory=InMemoryAppointmentWatches)

    def __post_init__(self) -> None:
        self.graph = FakeRoomGraph(lambda: self.now)
        self.subscriptions = FakeSubscriptions(lambda: self.now)

    def services(self, *, webhook_url: str | None = "https://booking.example.com/hooks",
                 credentials: CredentialRuntime | None = None, telemetry: Telemetry | None = None,
                 **rooms: Any) -> Container:
        values = {"client_state_keys": (KEY,), "outbound_webhook_url": webhook_url,
                  "outbound_webhook_secret": WHSEC if webhook_url else None, **rooms}
        room_settings = RoomSettings(**values)
        settings = Settings(synchronize=True, tenant_id="t", client_id="c", client_secret="s", rooms=room_settings)
        stores = RoomStores(rooms=self.rooms, reservations=self.reservations, own_writes=self.own_writes,
                            log=self.log, users=self.users, outbox=self.outbox)
        return Container(settings, queue=self.queue, mappings=self.mappings, resources=InMemoryResourceStore(),
                         deadletters=self.deadletters, calendar=self.calendar, clock=lambda: self.now,
                         room_stores=stores, room_graph=self.graph, subscriptions=self.subscriptions,
                         webhook=self.webhook if webhook_url else None, credential_state=self.credential_state,
                         credentials=credentials, dropped=self.dropped, telemetry=telemetry,
                         breakers=self.breakers, drift_reports=self.drift_reports,
                         organizer_stores=OrganizerStores(organizers=self.organizers, watches=self.watches))

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def sent_to(self, queue: str) -> list[Any]:
        return [m for q, m in self.queue.sent if q == queue]

    def take(self, queue: str) -> list[Any]:
        """Messages of ``queue`` sent so far, removed from the recording (as a receiver would)."""
        taken = self.sent_to(queue)
        self.queue.sent = [(q, m) for q, m in self.queue.sent if q != queue]
        return taken

