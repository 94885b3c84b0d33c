"""Appointments over fakes: the container with fake meetings, delegated connections and the rooms' outbound
channel (event log, outbox), and appointment events to feed it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.app.messaging import PLANNING_QUEUE, Delivery
from shared.app.people.appointments import sync_appointment_message
from shared.bootstrap import Container, RoomStores
from shared.config import Settings
from tests.fakes.connections import InMemoryWaitingWork
from tests.fakes.people import FakeDelegated, FakeMeetings
from tests.fakes.planning import InMemoryResourceStore
from tests.support.builders import body, cloud_event
from tests.unit.rooms.fakes_rooms import RoomWorld

ORGANIZER = "rita@contoso.com"
COLLEAGUES = ("ben@contoso.com", "cleo@contoso.com")
ROOM = "room.alpha@contoso.com"


def appointment(*, attendees: tuple[str, ...] = COLLEAGUES, online: bool = True, **extra: Any) -> dict[str, Any]:
    return {
        "organizer": {"email": ORGANIZER, "name": "Rita Recruiter"},
        "attendees": [{"email": a, "name": a.split("@")[0].title(), "type": "required"} for a in attendees],
        "rooms": [ROOM],
        "start": "2026-05-04T10:00:00", "end": "2026-05-04T11:00:00", "timeZone": "Europe/Berlin",
        "subject": "Interview: J. Doe", "body": "<p>Second round</p>", "location": "Building 4",
        "online": online, "reminderMinutes": 15, **extra,
    }


@dataclass
class PeopleWorld(RoomWorld):
    meetings: FakeMeetings = field(default_factory=FakeMeetings)
    delegated: FakeDelegated = field(default_factory=FakeDelegated)
    auth: str = "auto"
    _waiting: InMemoryWaitingWork | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.meetings.delegated = self.delegated

    def container(self) -> Container:
        settings = Settings(synchronize=True, tenant_id="t", client_id="c", client_secret="s",
                            appointment_auth=self.auth)
        stores = RoomStores(rooms=self.rooms, reservations=self.reservations, own_writes=self.own_writes,
                            log=self.log, users=self.users, outbox=self.outbox)
        return Container(settings, queue=self.queue, mappings=self.mappings, resources=InMemoryResourceStore(),
                         deadletters=self.deadletters, calendar=self.calendar, clock=lambda: self.now,
                         room_stores=stores, credential_state=self.credential_state, breakers=self.breakers,
                         meetings=self.meetings, delegated=self.delegated, waiting=self.waiting)

    @property
    def waiting(self) -> InMemoryWaitingWork:
        if self._waiting is None:
            self._waiting = InMemoryWaitingWork(self.queue)
        return self._waiting

    async def deliver(self, event: dict[str, Any], count: int = 1, **properties: Any) -> str:
        delivery = Delivery(event["id"], count, event["subject"],
                            {"type": event["type"], "subject": event["subject"], **properties})
        return await sync_appointment_message(body(event), delivery, self.container().appointments())

    async def run_readbacks(self) -> list[str]:
        """Deliver the join-link read-backs queued so far (as the queue would, when they come due)."""
        outcomes = []
        for message in self.take(PLANNING_QUEUE):
            delivery = Delivery(message.message_id, 1, message.session_id, message.application_properties)
            outcomes.append(await sync_appointment_message(message.body, delivery, self.container().appointments()))
        return outcomes

    def written(self) -> list[dict[str, Any]]:
        return self.log.of_type("appointment.written")


def scheduled(data: dict[str, Any] | None = None, sequence: int = 1,
              subject: str = "appointment/A-1") -> dict[str, Any]:
    return cloud_event("appointment.scheduled", subject, data or appointment(), sequence=sequence)


def updated(data: dict[str, Any], sequence: int, subject: str = "appointment/A-1") -> dict[str, Any]:
    return cloud_event("appointment.updated", subject, data, sequence=sequence)


def cancelled(comment: str | None, sequence: int, subject: str = "appointment/A-1") -> dict[str, Any]:
    return cloud_event("appointment.cancelled", subject, {"comment": comment} if comment else None, sequence=sequence)
