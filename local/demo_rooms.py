"""The README demo's room part: both directions between Outlook and a booking system, on the local stack.

1. A room is registered (``PUT /api/manage/rooms/{email}``): the connector subscribes to its calendar,
   and the simulator performs Graph's validation handshake against this host's webhook.
2. Someone books the room "in Outlook" (the simulator's control API): the room auto-accepts, Graph
   notifies, and the booking system's webhook (a receiver in this process that verifies the
   Standard Webhooks signature) gets ``reservation.created``; the pull API returns the same event.
3. The booking system posts a recurring ``reservation.created``: the booker's calendar gets ONE series
   with the room as resource, the room's calendar its copy, and nothing is echoed back.
4. A user is disabled in the directory: the users timer publishes ``user.deactivated``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from local.booking_receiver import describe

if TYPE_CHECKING:
    from local.stack import LocalStack

ROOM = "room.aurora@contoso.com"


def wait_for(condition: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.2)
    return None


def demo_rooms(stack: LocalStack) -> None:
    if stack.simulator is None or stack.booking is None:
        print("\nRooms: skipped (needs the Graph simulator and the local booking-system receiver)")
        return
    state, booking = stack.simulator.state, stack.booking
    people = list(stack.users)
    booker, colleague = people[0], people[1 % len(people)]
    state.add_room(ROOM, "Aurora", capacity=8, building="HQ", floor_number=2)
    print(f"\nRooms: registering {ROOM} (Graph validates {stack.env['CONNECTOR_PUBLIC_BASE_URL']}"
          "/api/graph/notifications) ...")
    response = stack.admin("PUT", f"/api/manage/rooms/{ROOM}")
    print(f"  PUT /api/manage/rooms/{ROOM} -> {response.status_code} {response.json().get('status')}")
    if response.status_code >= 300:
        return

    start = (datetime.now(UTC) + timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
    print(f"\nOutlook -> booking system: {booker} books Aurora in Outlook ...")
    state.outlook_create(booker, {
        "subject": "Design review",
        "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "end": {"dateTime": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "attendees": [{"type": "resource", "emailAddress": {"address": ROOM, "name": "Aurora"}},
                      {"type": "required", "emailAddress": {"address": colleague}}],
        "location": {"displayName": "Aurora", "locationEmailAddress": ROOM}})
    received = wait_for(lambda: booking.of_type("reservation."))
    print(f"  the booking system's webhook received (signature verified, {len(booking.attempts)} delivery):")
    for event in received or []:
        print("    " + describe(event))
    assert stack.host is not None
    with stack.client() as client:
        page = client.get("/api/reservations", headers={"x-functions-key": stack.host.function_key}).json()
    print(f"  GET /api/reservations -> {len(page['items'])} event(s), next={page['next']}")
    for event in page["items"]:
        print("    " + describe(event))

    print(f"\nBooking system -> Outlook: a weekly reservation of Aurora for {colleague} ...")
    first = (start + timedelta(days=1)).date()
    reservation = {
        "specversion": "1.0", "id": f"res-{uuid.uuid4().hex[:8]}", "source": "https://booking.example.com",
        "type": "reservation.created", "subject": "reservation/R-1001", "time": datetime.now(UTC).isoformat(),
        "data": {"room": ROOM, "booker": {"email": colleague}, "start": f"{first}T14:00:00",
                 "end": f"{first}T15:00:00", "timeZone": "Europe/Berlin", "subject": "Team sync",
                 "recurrence": {"pattern": {"type": "weekly", "interval": 1,
                                            "daysOfWeek": [first.strftime("%A").lower()]},
                                "range": {"type": "numbered", "startDate": first.isoformat(),
                                          "numberOfOccurrences": 8}}}}
    print(f"  POST /api/planning/events -> {stack.post_events([reservation]).status_code}")
    stack.wait_until_drained()
    wait_for(lambda: any(e.get("subject") == "Team sync" for e in state.events_of(ROOM)), timeout=30)
    for mailbox in (colleague, ROOM):
        for event in state.events_of(mailbox):
            if event.get("subject") == "Team sync":
                pattern = (event.get("recurrence") or {}).get("pattern", {})
                print(f"  {mailbox}: {event.get('type')} '{event['subject']}' every {pattern.get('interval')} "
                      f"week(s) on {', '.join(pattern.get('daysOfWeek', []))}")
    time.sleep(2)
    echoed = [e for e in booking.of_type("reservation.") if e["data"].get("subject") == "Team sync"]
    print(f"  published back to the booking system: {len(echoed)} (the connector's own booking is not echoed)")

    print("\nUsers directory: the timer records a baseline, then someone leaves ...")
    stack.admin("POST", "/admin/functions/users_directory", json={"input": ""})
    time.sleep(2)
    leaver = people[-1]
    state.update_user(leaver, account_enabled=False)
    stack.admin("POST", "/admin/functions/users_directory", json={"input": ""})
    for event in wait_for(lambda: booking.of_type("user."), timeout=30) or []:
        print("    " + describe(event))
    rooms = stack.admin("GET", "/api/manage/rooms").json()["value"]
    for room in rooms:
        print(f"\nGET /api/manage/rooms: {room['email']}: {room['status']}")
