"""The people capability composed over the fakes of tests/fakes/people.py, in a Container."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from shared.app.people.lifecycle import PeopleDeps
from shared.app.responses import Reply
from shared.bootstrap import Container, RoomStores
from shared.config import PeopleSettings, Settings
from tests.fakes.connections import (
    FakeAuthority,
    FakeMailer,
    InMemoryConnectAttempts,
    InMemoryConnectionStore,
    InMemoryWaitingWork,
)
from tests.fakes.planning import InMemoryDeadLetterStore
from tests.fakes.queue import RecordingQueue
from tests.fakes.rooms import (
    InMemoryLog,
    InMemoryOutbox,
    InMemoryOwnWrites,
    InMemoryReservations,
    InMemoryRooms,
    InMemoryUsers,
)
from tests.fakes.telemetry import RecordedTelemetry

KEY = bytes(range(32))
OLD_KEY = bytes(range(1, 33))
RETURN = "https://ebms.example.com/settings/calendar"
ANNA = "anna@contoso.com"


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


@dataclass
class PeopleWorld:
    now: datetime = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    queue: RecordingQueue = field(default_factory=RecordingQueue)
    connections: InMemoryConnectionStore = field(default_factory=InMemoryConnectionStore)
    attempts: InMemoryConnectAttempts = field(default_factory=InMemoryConnectAttempts)
    authority: FakeAuthority = field(default_factory=FakeAuthority)
    mailer: FakeMailer = field(default_factory=FakeMailer)
    log: InMemoryLog = field(default_factory=InMemoryLog)
    telemetry: RecordedTelemetry = field(default_factory=RecordedTelemetry)

    def __post_init__(self) -> None:
        self.waiting = InMemoryWaitingWork(self.queue)

    def container(self, *, keys: tuple[bytes, ...] = (KEY,), mail: bool = True, **people: Any) -> Container:
        settings = Settings(synchronize=True, tenant_id="t", client_id="c", client_secret="s", people=PeopleSettings(
            token_keys=keys, return_urls=("https://ebms.example.com/",),
            reconnect_mail_from="noreply@contoso.com" if mail else None, **people))
        stores = RoomStores(rooms=InMemoryRooms(), reservations=InMemoryReservations(), own_writes=InMemoryOwnWrites(),
                            log=self.log, users=InMemoryUsers(), outbox=InMemoryOutbox())
        from shared.bootstrap.adapters import PeopleStores

        return Container(settings, clock=lambda: self.now, queue=self.queue, deadletters=InMemoryDeadLetterStore(),
                         room_stores=stores, telemetry=self.telemetry.telemetry,
                         people_stores=PeopleStores(connections=self.connections, attempts=self.attempts),
                         waiting=self.waiting, token_authority=self.authority, mailer=self.mailer)

    def deps(self, **kwargs: Any) -> PeopleDeps:
        return self.container(**kwargs).people()

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def events(self, type_: str, tenant: str | None = None) -> list[dict[str, Any]]:
        return self.log.of_type(type_, tenant)


def location(reply: Reply) -> dict[str, str]:
    assert reply.status == 302, reply.body
    return query(reply.headers["Location"])
