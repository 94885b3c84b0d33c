"""The benchmark's planning events: CloudEvents as the planning system sends them, one source per run so a
run's keys never meet another's in the connector's mapping table."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

SOURCE = "https://planning.example.com/bench"
FIRST_DAY = date(2026, 5, 4)


def mailboxes(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i:03d}@contoso.com" for i in range(count)]


@dataclass
class Stream:
    """Events in the order they are sent, and the last event of every task (what its calendar entry must show)."""

    name: str
    source: str = field(default_factory=lambda: f"{SOURCE}/{uuid.uuid4().hex[:8]}")
    events: list[dict[str, Any]] = field(default_factory=list)
    last: dict[str, dict[str, Any]] = field(default_factory=dict)  # subject -> event
    _sequence: dict[str, int] = field(default_factory=dict)

    def add(self, subject: str, kind: str, mailbox: str, slot: int) -> dict[str, Any]:
        """``slot`` numbers quarter-day slots from FIRST_DAY 06:00, so tasks and reschedules never collide."""
        sequence = self._sequence.get(subject, 0) + 1
        self._sequence[subject] = sequence
        start = datetime.combine(FIRST_DAY + timedelta(days=slot // 4), datetime.min.time()) \
            + timedelta(hours=6 + 3 * (slot % 4))
        raw: dict[str, Any] = {
            "specversion": "1.0", "id": str(uuid.uuid4()), "source": self.source, "type": f"task.{kind}",
            "subject": subject, "time": datetime.now(UTC).isoformat(), "sequence": str(sequence)}
        if kind != "unplanned":
            raw["data"] = {"resource": {"email": mailbox}, "start": start.isoformat(),
                           "end": (start + timedelta(minutes=45)).isoformat(), "timeZone": "Europe/Berlin",
                           "title": f"Job {subject}", "taskType": "Maintenance",
                           "customer": {"name": "Customer", "phone": "+49 30 1234",
                                        "address": {"street": "Main 1", "city": "Berlin"}}}
        self.events.append(raw)
        self.last[subject] = raw
        return raw

    def key(self, subject: str) -> str:
        return f"{self.source} {subject}"

    def subject_of(self, key: str) -> str | None:
        source, _, subject = key.partition(" ")
        return subject if source == self.source else None


def new_tasks(name: str, boxes: list[str], per_mailbox: int) -> Stream:
    """``per_mailbox`` new tasks in each mailbox, interleaved across mailboxes."""
    stream = Stream(name)
    for t in range(per_mailbox):
        for m, mailbox in enumerate(boxes):
            stream.add(f"task/{name}-{m}-{t}", "planned", mailbox, t)
    return stream


def storm(tasks: int, revisions: int, boxes: list[str]) -> Stream:
    """Each task planned, then rescheduled ``revisions - 1`` times in quick succession (round by round)."""
    stream = Stream("storm")
    for r in range(revisions):
        for t in range(tasks):
            stream.add(f"task/storm-{t}", "planned" if r == 0 else "rescheduled", boxes[t % len(boxes)],
                       t // len(boxes) * revisions + r)
    return stream
