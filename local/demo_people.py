"""The README demo's people part, through the local host's routes and the Graph simulator's sign-in:

1. A recruiter connects her calendar (``POST /api/connections``); the script plays the browser: it opens the
   authorize URL at the simulator (which signs in the ``login_hint`` user), posts Entra's answer to the
   callback and follows the redirect to the booking system's page with ``?connection=connected``.
2. The booking system books an interview (``appointment.scheduled``): two colleagues, a room, a Teams meeting,
   written with the recruiter's own connection (``CONNECTOR_APPOINTMENT_AUTH=auto``: she is connected); the
   booking system's webhook receives ``appointment.written`` with the join link.
3. The recruiter is watched (``PUT /api/manage/organizers/{email}``); a colleague declines in Outlook (the
   simulator's control route) and ``appointment.response`` reaches the booking system.
4. ``POST /api/availability`` for the recruiter, the colleagues and the room: the first common free slots.
"""

from __future__ import annotations

import ssl
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from local.booking_receiver import BookingReceiver
from local.demo_rooms import wait_for

if TYPE_CHECKING:
    from local.stack import LocalStack

__all__ = ["COLLEAGUES", "RECRUITER", "ROOM", "PeopleDemo", "demo_people"]

RECRUITER = ("lena.hoffmann@contoso.com", "Lena Hoffmann")
COLLEAGUES = (("jonas.weber@contoso.com", "Jonas Weber"), ("mia.schulz@contoso.com", "Mia Schulz"))
ROOM = ("room.orion@contoso.com", "Orion")
ZONE, WINDOWS_ZONE = "Europe/Berlin", "W. Europe Standard Time"
SOURCE = "https://recruiting.example.com/ebms"


@dataclass
class PeopleDemo:
    """What the demo saw, for the end-to-end test: each field is filled once its step succeeded."""

    interview_day: date | None = None  # the interview is 10:00–11:00 Europe/Berlin that day
    returned_to: str | None = None  # the page the browser ended at, with its query
    connection: dict[str, Any] = field(default_factory=dict)  # GET /api/connections/{email}
    written: dict[str, Any] | None = None  # appointment.written as the booking system received it
    declined: dict[str, Any] | None = None  # the colleague's appointment.response
    free_slots: list[dict[str, str]] = field(default_factory=list)


class _Form(HTMLParser):
    """The page Entra answers with for ``response_mode=form_post``: a form the browser posts at once."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.action = values.get("action")
        elif tag == "input" and values.get("name"):
            self.fields[str(values["name"])] = values.get("value") or ""


def demo_people(stack: LocalStack) -> PeopleDemo | None:
    if stack.simulator is None or stack.booking is None or stack.host is None:
        print("\nPeople: skipped (needs the Graph simulator and the local booking-system receiver)")
        return None
    state, booking, key = stack.simulator.state, stack.booking, {"x-functions-key": stack.host.function_key}
    for email, name in (RECRUITER, *COLLEAGUES):
        state.add_user(email, name)
        state.set_working_hours(email, startTime="09:00", endTime="17:00", timeZone=WINDOWS_ZONE)
    state.add_room(ROOM[0], ROOM[1], capacity=6, building="HQ", floor_number=3)
    day = _next_working_day(datetime.now(UTC).astimezone(_zone()).date())
    busy = COLLEAGUES[1][0]  # a meeting of her own that day, for the free/busy answer
    if not any(e.get("subject") == "Team meeting" for e in state.events_of(busy)):
        state.create_event(busy, {"subject": "Team meeting", "showAs": "busy",
                                  "start": {"dateTime": f"{day}T13:00:00", "timeZone": WINDOWS_ZONE},
                                  "end": {"dateTime": f"{day}T14:30:00", "timeZone": WINDOWS_ZONE}})
    seen = PeopleDemo(interview_day=day)
    browser = httpx.Client(verify=ssl.create_default_context(cafile=str(stack.simulator.ca_path)), timeout=30)
    with stack.client() as client, browser:
        if not _connect(stack, client, browser, booking, key, seen):
            return seen
        if not _book(stack, booking, day, seen):
            return seen
        _decline(stack, booking, browser, seen)
        _availability(client, key, day, seen)
    return seen


def _connect(stack: LocalStack, client: httpx.Client, browser: httpx.Client, booking: BookingReceiver,
             key: dict[str, str], seen: PeopleDemo) -> bool:
    recruiter, name = RECRUITER
    return_url = f"{booking.base_url}/recruiting/connected"
    print(f"\nPeople: {name} connects her calendar (the browser's round trip done by this script) ...")
    started = client.post("/api/connections", json={"user": recruiter, "returnUrl": return_url}, headers=key)
    print(f"  POST /api/connections -> {started.status_code}")
    if started.status_code != 200:
        print(f"    {started.text[:200]}")
        return False
    authorize = started.json()["authorizeUrl"]
    print(f"  browser: the sign-in page at the Graph simulator ({urlsplit(authorize).path.rsplit('/', 1)[-1]}, "
          f"signs in {recruiter})")
    answer = _entra_answer(browser, authorize)
    if answer is None:
        print("  the sign-in did not come back to the connector (see the host's log)")
        return False
    location = answer.headers.get("location", "")
    print(f"  browser: back at the connector's callback -> {answer.status_code}, on to {location}")
    if answer.status_code != 302 or not location.startswith(return_url):
        return False
    landed = browser.get(location)
    seen.returned_to = str(landed.url)
    connection = client.get(f"/api/connections/{recruiter}", headers=key).json()
    seen.connection = connection
    print(f"  GET /api/connections/{recruiter} -> {connection['state']}, scopes {', '.join(connection['scopes'])}")
    return bool(connection["state"] == "connected")


def _entra_answer(browser: httpx.Client, authorize: str) -> httpx.Response | None:
    """Entra's sign-in page answers with a redirect (query) or a self-posting form (form_post) to the callback;
    the connector's answer to that is what the browser gets next."""
    page = browser.get(authorize)
    if page.is_redirect:
        return browser.get(page.headers["location"])
    form = _Form()
    form.feed(page.text)
    if page.status_code != 200 or not form.action:
        return None
    return browser.post(form.action, data=form.fields)


def _book(stack: LocalStack, booking: BookingReceiver, day: date, seen: PeopleDemo) -> bool:
    recruiter, name = RECRUITER
    subject = f"appointment/INT-{uuid.uuid4().hex[:6].upper()}"
    event: dict[str, Any] = {
        "specversion": "1.0", "id": uuid.uuid4().hex, "source": SOURCE, "type": "appointment.scheduled",
        "subject": subject, "time": datetime.now(UTC).isoformat(), "sequence": "1",
        "data": {"organizer": {"email": recruiter, "name": name},
                 "attendees": [{"email": email, "name": who, "type": "required"} for email, who in COLLEAGUES],
                 "rooms": [ROOM[0]], "start": f"{day}T10:00:00", "end": f"{day}T11:00:00", "timeZone": ZONE,
                 "subject": "Interview: Backend developer", "body": "<p>First round with the candidate.</p>",
                 "location": ROOM[1], "online": True, "reminderMinutes": 15}}
    print(f"\nBooking an interview ({subject}) on {day:%a %d %b} 10:00 with "
          f"{' and '.join(n for _, n in COLLEAGUES)}, {ROOM[1]} and a Teams meeting,\n"
          f"  written with {name}'s own connection (CONNECTOR_APPOINTMENT_AUTH=auto) ...")
    print(f"  POST /api/planning/events -> {stack.post_events([event]).status_code}")
    written = wait_for(lambda: next((e for e in booking.of_type("appointment.written") if e["subject"] == subject),
                                    None), timeout=90)
    if written is None:
        print("  no appointment.written within 90 s (see the host's log)")
        return False
    seen.written = written
    data = written["data"]
    invited = [email for email, _ in COLLEAGUES if any(e.get("subject") == event["data"]["subject"]
                                                     for e in stack.calendar(email))]
    print(f"  the booking system received appointment.written; invitations in {len(invited)} colleague calendar(s)")
    print(f"  Teams join link for the candidate's email: {data.get('joinUrl')}")
    return True


def _decline(stack: LocalStack, booking: BookingReceiver, browser: httpx.Client, seen: PeopleDemo) -> None:
    assert stack.simulator is not None and seen.written is not None
    recruiter, name = RECRUITER
    colleague, who = COLLEAGUES[0]
    response = stack.admin("PUT", f"/api/manage/organizers/{recruiter}")
    print(f"\nWatching {name}'s calendar: PUT /api/manage/organizers/{recruiter} -> {response.status_code} "
          f"{response.json().get('status')}")
    if response.status_code >= 300:
        return
    event_id, subject = seen.written["data"]["graph"]["eventId"], seen.written["subject"]
    answered = browser.post(f"{stack.simulator.base_url}/_sim/outlook/{recruiter}/events/{event_id}/responses",
                            json={"attendee": colleague, "response": "declined"})
    print(f"  {who} declines in Outlook -> {answered.status_code}")

    def declined() -> dict[str, Any] | None:
        return next((e for e in booking.of_type("appointment.response") if e["subject"] == subject
                     and e["data"]["attendee"]["email"] == colleague and e["data"]["response"] == "declined"), None)

    found = wait_for(declined)
    if found is None:
        print("  no appointment.response within 60 s (see the host's log)")
        return
    seen.declined = found["data"]
    for event in booking.of_type("appointment.response"):
        if event["subject"] == subject:
            data = event["data"]
            print(f"  the booking system received appointment.response: {data['attendee']['email']} "
                  f"{data['response']} at {data.get('respondedAt')}")


def _availability(client: httpx.Client, key: dict[str, str], day: date, seen: PeopleDemo) -> None:
    people = [RECRUITER[0], *(email for email, _ in COLLEAGUES)]
    body = {"people": people, "rooms": [ROOM[0]], "start": f"{day}T00:00:00",
            "end": f"{day + timedelta(days=3)}T00:00:00", "timeZone": ZONE, "durationMinutes": 60}
    response = client.post("/api/availability", json=body, headers=key)
    print(f"\nFree/busy: POST /api/availability for {len(people)} people and {ROOM[1]}, "
          f"{day:%a %d %b} + 3 days -> {response.status_code}")
    if response.status_code != 200:
        print(f"  {response.text[:200]}")
        return
    answer = response.json()
    for schedule in answer["schedules"]:
        busy = [item for item in schedule["items"] if item["status"] != "free"]
        print(f"  {schedule['email']:<28} {len(busy)} busy item(s)" +
              (f", error {schedule['error']['code']}" if schedule.get("error") else ""))
    seen.free_slots = answer["freeSlots"]
    print("  first free slots for all of them: " +
          "; ".join(f"{s['start'][:16].replace('T', ' ')}–{s['end'][11:16]}" for s in seen.free_slots[:3]))


def _zone() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(ZONE)


def _next_working_day(today: date) -> date:
    day = today + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day
