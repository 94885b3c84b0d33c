"""Meetings with attendees: invitations in attendees' calendars, updates, Graph's cancel action (the organizer
only), Teams join links (at once or on a later read), rooms accepting."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from local.graphsim.server import RunningSimulator

from .simdata import ALICE, BOB, event_body

ROOM = "room-meet@contoso.example"
BOB_MAIL = "robert@contoso.example"  # Bob's SMTP address (simdata): invitations find him by it


def meeting(**extra: Any) -> dict[str, Any]:
    return event_body(attendees=[{"emailAddress": {"address": BOB_MAIL, "name": "Bob"}, "type": "required"},
                                 {"emailAddress": {"address": ROOM}, "type": "resource"}],
                      isOnlineMeeting=True, onlineMeetingProvider="teamsForBusiness", **extra)


def event_path(mailbox: str, event_id: str) -> str:
    return f"/users/{mailbox}/events/{quote(event_id, safe='')}"


async def test_a_meeting_invites_its_attendees_and_gets_a_join_link(sim: RunningSimulator,
                                                                     graph: httpx.AsyncClient) -> None:
    sim.state.add_room(ROOM, "Meeting Room")
    created = (await graph.post(f"/users/{ALICE}/events", json=meeting())).json()
    assert created["onlineMeeting"]["joinUrl"].startswith("https://teams.microsoft.com/l/meetup-join/")
    assert created["webLink"].startswith("https://outlook.office365.com/owa/?itemid=")
    room = next(a for a in created["attendees"] if a["type"] == "resource")
    assert room["status"]["response"] == "accepted"
    [copy] = sim.state.events_of(BOB)
    assert copy["iCalUId"] == created["iCalUId"] and copy["id"] != created["id"]
    assert copy["isOrganizer"] is False and copy["responseStatus"] == {"response": "none",
                                                                       "time": "0001-01-01T00:00:00Z"}
    assert copy["organizer"]["emailAddress"]["address"] == ALICE and "transactionId" not in copy
    await graph.patch(event_path(ALICE, created["id"]), json={"subject": "Moved"})
    assert sim.state.events_of(BOB)[0]["subject"] == "Moved"


async def test_only_the_organizer_may_cancel_and_attendees_see_the_reason(sim: RunningSimulator,
                                                                          graph: httpx.AsyncClient) -> None:
    created = (await graph.post(f"/users/{ALICE}/events", json=meeting())).json()
    [copy] = sim.state.events_of(BOB)
    refused = await graph.post(event_path(BOB, copy["id"]) + "/cancel", json={"Comment": "no"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "ErrorInvalidRequest"
    assert "organizer" in refused.json()["error"]["message"]
    done = await graph.post(event_path(ALICE, created["id"]) + "/cancel", json={"Comment": "Withdrawn"})
    assert done.status_code == 202
    assert (await graph.get(event_path(ALICE, created["id"]))).status_code == 404
    [cancelled] = sim.state.events_of(BOB)
    assert cancelled["isCancelled"] and cancelled["subject"].startswith("Canceled: ")
    assert "Withdrawn" in cancelled["body"]["content"]
    again = await graph.post(event_path(ALICE, created["id"]) + "/cancel", json={"Comment": "x"})
    assert again.status_code == 404


async def test_a_join_link_may_show_only_on_a_later_read(sim: RunningSimulator, graph: httpx.AsyncClient) -> None:
    sim.state.join_url_after_reads = 2
    created = (await graph.post(f"/users/{ALICE}/events", json=meeting())).json()
    assert created["onlineMeeting"] is None
    first = (await graph.get(event_path(ALICE, created["id"]))).json()
    second = (await graph.get(event_path(ALICE, created["id"]))).json()
    assert first["onlineMeeting"] is None and second["onlineMeeting"]["joinUrl"]


async def test_an_attendee_dropped_gets_a_cancellation(sim: RunningSimulator, graph: httpx.AsyncClient) -> None:
    created = (await graph.post(f"/users/{ALICE}/events", json=meeting())).json()
    await graph.patch(event_path(ALICE, created["id"]), json={"attendees": []})
    [copy] = sim.state.events_of(BOB)
    assert copy["isCancelled"]
