"""Graph's ``POST /users/{u}/calendar/getSchedule`` over the simulator's calendars (calendar-getschedule,
scheduleinformation, freebusyerror; limits in shared/graph/facts.md §4).

* Body (property names case-insensitive, as Graph reads them): ``schedules`` (SMTP addresses), ``startTime`` and
  ``endTime`` (dateTimeTimeZone), ``availabilityViewInterval`` (minutes, default 30).
* Limits, with Graph's codes: more than 100 schedules → 400 ``ErrorMailboxDataArrayTooBig``; a window over 62 days
  → 400 ``ErrorTimeIntervalTooBig``; an end not after the start → 400 ``ErrorInvalidTimeInterval``; an interval
  outside 5–1440 minutes or longer than the window → 400 ``ErrorInvalidMergedFreeBusyInterval``.
* Each schedule: ``scheduleItems`` for the events (occurrences of series too) overlapping the window, status from
  ``showAs``, times in ``Prefer: outlook.timezone`` (UTC without it); ``availabilityView`` one digit per interval,
  the strongest status in it (0 free or workingElsewhere, 1 tentative, 2 busy, 3 oof); ``workingHours`` from the
  user's settings (schedule_state.py). An address the directory does not have is an entry with only
  ``scheduleId`` and ``error`` {message, responseCode "5009"}, as Graph answers it; the request still succeeds.
* Who may ask: an app token with Calendars.ReadBasic, Calendars.Read or Calendars.ReadWrite (roles), or a
  delegated token (``scp``) with one of those for the signed-in user's own mailbox (``/users/{themselves}``).
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from . import recurrence, zones
from .errors import GraphError, json_response
from .graph import Route, _json_body
from .graph import match_route as graph_match_route

MAX_SCHEDULES = 100
MAX_WINDOW_DAYS = 62
MIN_INTERVAL, MAX_INTERVAL = 5, 1440
_READ = {"Calendars.ReadBasic", "Calendars.ReadBasic.All", "Calendars.Read", "Calendars.ReadWrite"}
_DELEGATED_READ = _READ | {"Calendars.Read.Shared", "Calendars.ReadWrite.Shared"}
_VIEW = {"free": "0", "workingelsewhere": "0", "tentative": "1", "busy": "2", "oof": "3", "unknown": "0"}

ROUTES = [Route("getSchedule", re.compile(r"/users/(?P<u>[^/]+)/calendar/getSchedule/?", re.I),
                frozenset({"POST"}), True)]
NAMES = {r.name for r in ROUTES}


def match_route(path: str) -> tuple[Route, dict[str, str]] | None:
    return graph_match_route(path, ROUTES)


def _invalid_interval() -> GraphError:
    return GraphError(400, "ErrorInvalidMergedFreeBusyInterval",
                      "The specified merged free/busy interval is not valid. Specify an interval that is less than "
                      "the free/busy time window and  between 5 and 1440 minutes.")


def _body(raw: bytes) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in _json_body(raw).items()}  # getSchedule's parameter names ignore case


def _when(value: Any, name: str) -> datetime:
    if not isinstance(value, dict) or not value.get("dateTime"):
        raise GraphError(400, "ErrorInvalidParameter", f"The value of the parameter '{name}' is invalid.")
    return zones.to_instant(str(value["dateTime"]), value.get("timeZone") or "UTC")


class ScheduleHandlers:
    def __init__(self, state: Any) -> None:
        self.state = state

    async def dispatch(self, route: Route, params: dict[str, str], request: Request, base: str) -> Response:
        owner = self.state.find_user(params["u"])
        if owner is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{params['u']}' is invalid.")
        self._authorize(request.state.claims, owner)
        body = _body(await request.body())
        schedules = body.get("schedules")
        if not isinstance(schedules, list) or not schedules or not all(isinstance(s, str) for s in schedules):
            raise GraphError(400, "ErrorInvalidParameter", "The value of the parameter 'Schedules' is invalid.")
        if len(schedules) > MAX_SCHEDULES:
            raise GraphError(400, "ErrorMailboxDataArrayTooBig",
                             "There are too many target users in the EmailAddress array. The allowed size = "
                             f"{MAX_SCHEDULES}; the actual size = {len(schedules)}.")
        start, end = _when(body.get("starttime"), "StartTime"), _when(body.get("endtime"), "EndTime")
        if end <= start:
            raise GraphError(400, "ErrorInvalidTimeInterval",
                             "The time duration specified for FreeBusyViewOptions.TimeWindow is invalid.")
        if end - start > timedelta(days=MAX_WINDOW_DAYS):
            raise GraphError(400, "ErrorTimeIntervalTooBig",
                             "The requested time duration specified for FreeBusyViewOptions.TimeWindow is too long. "
                             f"The allowed limit = {MAX_WINDOW_DAYS} days; the actual limit = "
                             f"{math.ceil((end - start) / timedelta(days=1))} days.")
        interval = body.get("availabilityviewinterval", 30)
        if isinstance(interval, str) and interval.strip().isdigit():
            interval = int(interval)  # Graph's own example sends "15"
        if isinstance(interval, bool) or not isinstance(interval, int) or not MIN_INTERVAL <= interval <= MAX_INTERVAL \
                or timedelta(minutes=interval) > end - start:
            raise _invalid_interval()
        zone = zones.parse_prefer_timezone(request.headers.getlist("prefer")) or "UTC"
        zones.resolve_zone(zone)
        value = [self._schedule(address, start, end, timedelta(minutes=interval), zone) for address in schedules]
        return json_response(200, {
            "@odata.context": f"{base}/v1.0/$metadata#Collection(microsoft.graph.scheduleInformation)",
            "value": value})

    @staticmethod
    def _authorize(claims: dict[str, Any], owner: dict[str, Any]) -> None:
        denied = GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        if "scp" in claims:
            scopes = set(str(claims.get("scp") or "").split())
            me = {str(claims.get(k) or "").lower() for k in ("oid", "upn", "preferred_username")} - {""}
            if not scopes & _DELEGATED_READ or not me & {owner["id"].lower(), owner["userPrincipalName"].lower()}:
                raise denied
        elif not set(claims.get("roles") or []) & _READ:
            raise denied

    def _find(self, address: str) -> dict[str, Any] | None:
        found = self.state.find_user(address)
        if found is None:
            lowered = address.strip().lower()
            found = next((u for u in self.state.users() if str(u.get("mail") or "").lower() == lowered), None)
        return found  # type: ignore[no-any-return]

    def _schedule(self, address: str, start: datetime, end: datetime, interval: timedelta,
                  zone: str) -> dict[str, Any]:
        user = self._find(address)
        if user is None:
            return {"scheduleId": address, "error": {
                "message": f"Unable to resolve e-mail address {address} to an Active Directory object.",
                "responseCode": "5009"}}
        events = [e for e in recurrence.expand(self.state.list_events(user["id"]), start, end)
                  if not e.props.get("isCancelled") and e.end > start]
        events.sort(key=lambda e: (e.start, e.end))
        slots = math.ceil((end - start) / interval)
        view = []
        for n in range(slots):
            lo, hi = start + n * interval, min(start + (n + 1) * interval, end)
            digits = [_VIEW.get(str(e.props.get("showAs") or "busy").lower(), "2") for e in events
                      if e.start < hi and e.end > lo]
            view.append(max(digits, default="0"))
        return {
            "scheduleId": address,
            "availabilityView": "".join(view),
            "scheduleItems": [self._item(e, zone) for e in events],
            "workingHours": self.state.working_hours_of(user["id"]),
        }

    @staticmethod
    def _item(event: Any, zone: str) -> dict[str, Any]:
        private = str(event.props.get("sensitivity") or "normal").lower() in ("private", "confidential")
        item: dict[str, Any] = {"isPrivate": private, "status": str(event.props.get("showAs") or "busy"),
                                "start": zones.render(event.start, zone), "end": zones.render(event.end, zone)}
        if not private:
            item["subject"] = str(event.props.get("subject") or "")
            item["location"] = str((event.props.get("location") or {}).get("displayName") or "")
        return item
