"""SimState's working hours per user (what Graph's getSchedule reports from a mailbox's settings).

Default, as a new Exchange mailbox has them: Monday to Friday, 08:00–17:00, in the user's zone (UTC unless set).
``set_working_hours(user, daysOfWeek=, startTime=, endTime=, timeZone=)`` changes any of them; ``timeZone`` is a
zone name (Windows or IANA) or a ``customTimeZone`` object as Graph sends it. ``reset`` goes back to defaults.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from . import zones
from .errors import GraphError

DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
DEFAULT_HOURS: dict[str, Any] = {
    "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
    "startTime": "08:00:00.0000000", "endTime": "17:00:00.0000000", "timeZone": {"name": "UTC"},
}


def _time_of_day(value: Any, name: str) -> str:
    text = str(value)
    head = text.partition(".")[0]
    parts = head.split(":")
    if len(parts) not in (2, 3) or not all(p.isdigit() and len(p) == 2 for p in parts) \
            or int(parts[0]) > 23 or int(parts[1]) > 59 or (len(parts) == 3 and int(parts[2]) > 59):
        raise ValueError(f"{name} must be a time of day such as 08:00:00")
    return f"{head if len(parts) == 3 else head + ':00'}.0000000"


class WorkingHoursMixin:
    _lock: threading.RLock

    def _init_schedule(self) -> None:
        self._working_hours: dict[str, dict[str, Any]] = {}  # user id -> workingHours JSON

    def _reset_schedule(self) -> None:
        self._working_hours.clear()

    def _user_id(self, user: str) -> str:
        found = self.find_user(user)  # type: ignore[attr-defined]
        if found is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.")
        return str(found["id"])

    def set_working_hours(self, user: str, **changes: Any) -> dict[str, Any]:
        """Change a user's working hours (camelCase keys as in Graph); raises ValueError for bad values."""
        with self._lock:
            user_id = self._user_id(user)
            hours = copy.deepcopy(self._working_hours.get(user_id, DEFAULT_HOURS))
            for key, value in changes.items():
                if key == "daysOfWeek":
                    days = [str(d).lower() for d in value]
                    if any(d not in DAYS for d in days):
                        raise ValueError(f"daysOfWeek must name days of the week: {value}")
                    hours["daysOfWeek"] = [d for d in DAYS if d in days]
                elif key in ("startTime", "endTime"):
                    hours[key] = _time_of_day(value, key)
                elif key == "timeZone":
                    if isinstance(value, dict):
                        hours["timeZone"] = copy.deepcopy(value)
                    else:
                        zones.resolve_zone(str(value))  # GraphError for a zone Graph does not know
                        hours["timeZone"] = {"name": str(value)}
                else:
                    raise ValueError(f"unknown working-hours property {key!r}")
            self._working_hours[user_id] = hours
            return copy.deepcopy(hours)

    def working_hours_of(self, user: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._working_hours.get(self._user_id(user), DEFAULT_HOURS))
