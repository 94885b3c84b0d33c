"""A sample planning day for the demo and the end-to-end tests: all nine change kinds, three resources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["RESOURCES", "SOURCE", "sample_day"]

SOURCE = "https://planning.example.com/omd"
RESOURCES = {
    "anna.berger@contoso.com": "Anna Berger",
    "ben.okafor@contoso.com": "Ben Okafor",
    "carla.silva@contoso.com": "Carla Silva",
}
_ANNA, _BEN, _CARLA = RESOURCES


def _resource(email: str) -> dict[str, str]:
    return {"email": email, "name": RESOURCES[email]}


def _task(email: str, day: str, start: str, end: str, title: str, customer: dict[str, Any] | None = None,
          **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"resource": _resource(email), "start": f"{day}T{start}:00", "end": f"{day}T{end}:00",
                            "timeZone": "Europe/Berlin", "title": title, **extra}
    if customer:
        data["customer"] = customer
    return data


MUELLER = {
    "name": "Bäckerei Müller",
    "phone": "+49 30 1234 5678",
    "email": "info@baeckerei-mueller.example",
    "address": {"street": "Torstraße 12", "postalCode": "10119", "city": "Berlin", "countryOrRegion": "Germany"},
    "coordinates": {"latitude": 52.5291, "longitude": 13.4014},
}
HOTEL = {
    "name": "Hotel Spreeblick",
    "phone": "+49 30 9876 543",
    "address": {"street": "Am Spreeufer 5", "postalCode": "10178", "city": "Berlin", "countryOrRegion": "Germany"},
}
SCHULE = {
    "name": "Grundschule am Park",
    "phone": "+49 30 5555 010",
    "address": {"street": "Parkweg 3", "postalCode": "12043", "city": "Berlin", "countryOrRegion": "Germany"},
    "coordinates": {"latitude": 52.4811, "longitude": 13.4353},
}


def sample_day(day: str = "2026-05-04", *, prefix: str = "demo") -> list[dict[str, Any]]:
    """The events in the order the planning system sends them (sequence = each entity's revision)."""
    start = datetime(2026, 5, 4, 6, 0, tzinfo=UTC)
    counter = iter(range(1, 1000))
    saturday = (datetime.fromisoformat(day) + timedelta(days=5)).date().isoformat()

    def event(type_: str, subject: str, sequence: int, data: dict[str, Any] | None = None) -> dict[str, Any]:
        n = next(counter)
        raw: dict[str, Any] = {
            "specversion": "1.0",
            "id": f"{prefix}-{n:03d}",
            "source": SOURCE,
            "type": type_,
            "subject": subject,
            "time": (start + timedelta(minutes=n)).isoformat().replace("+00:00", "Z"),
            "sequence": str(sequence),
        }
        if data is not None:
            raw["data"] = data
        return raw

    return [
        # 1 task planned
        event("task.planned", "task/1001", 1, _task(_ANNA, day, "08:00", "10:00", "Oven maintenance", MUELLER,
              taskType="Maintenance", reference="WO-1001", description="Annual service of the deck oven.\nBring seals.",
              url="https://planning.example.com/omd/tasks/1001")),
        event("task.planned", "task/1002", 1, _task(_ANNA, day, "11:00", "12:00", "Boiler check", HOTEL,
              taskType="Inspection", reference="WO-1002")),
        event("task.planned", "task/1003", 1, _task(_BEN, day, "09:00", "11:30", "Ventilation repair", SCHULE,
              taskType="Repair", reference="WO-1003")),
        event("task.planned", "task/1004", 1, _task(_CARLA, day, "14:00", "15:00", "Meter reading", HOTEL,
              taskType="Inspection", reference="WO-1004")),
        # 2 task rescheduled, same resource
        event("task.rescheduled", "task/1002", 2, _task(_ANNA, day, "15:00", "16:00", "Boiler check", HOTEL,
              taskType="Inspection", reference="WO-1002")),
        # 3 task reassigned: other resource and time
        event("task.reassigned", "task/1003", 2, _task(_CARLA, day, "10:00", "12:30", "Ventilation repair", SCHULE,
              taskType="Repair", reference="WO-1003")),
        # 4 task unplanned
        event("task.unplanned", "task/1004", 2),
        # 5-7 unavailability added, updated, deleted
        event("unavailability.added", "unavailability/501", 1, {"resource": _resource(_ANNA),
              "start": f"{day}T12:30:00", "end": f"{day}T14:00:00", "timeZone": "Europe/Berlin",
              "reason": "Doctor's appointment"}),
        event("unavailability.added", "unavailability/502", 1, {"resource": _resource(_BEN),
              "start": f"{day}T00:00:00", "end": f"{day}T00:00:00".replace(day, saturday), "allDay": True,
              "timeZone": "Europe/Berlin", "reason": "Training course"}),
        event("unavailability.updated", "unavailability/501", 2, {"resource": _resource(_ANNA),
              "start": f"{day}T13:00:00", "end": f"{day}T14:30:00", "timeZone": "Europe/Berlin",
              "reason": "Doctor's appointment (moved)"}),
        event("unavailability.added", "unavailability/503", 1, {"resource": _resource(_CARLA),
              "start": f"{day}T16:00:00", "end": f"{day}T17:00:00", "timeZone": "Europe/Berlin",
              "reason": "Team meeting"}),
        event("unavailability.deleted", "unavailability/503", 2),
        # 8-9 exceptional working day added, removed
        event("workingday.added", "workingday/801", 1, {"resource": _resource(_ANNA), "date": saturday,
              "start": "08:00", "end": "12:00", "timeZone": "Europe/Berlin", "note": "Stock-taking"}),
        event("workingday.added", "workingday/802", 1, {"resource": _resource(_CARLA), "date": saturday,
              "note": "Weekend stand-by"}),
        event("workingday.removed", "workingday/802", 2),
    ]
