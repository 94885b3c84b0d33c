"""Attendees answering on demand: the organizer's event shows the answer as Graph does, and its subscriptions hear
of it as an ordinary update."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from local.graphsim.server import RunningSimulator

from .receiver import Receiver, running_receiver
from .simdata import ALICE, BOB, event_body
from .test_graphsim_rooms_notifications import HOOK, subscribe

pytestmark = pytest.mark.asyncio


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as rx:
        yield rx


def meeting(sim: RunningSimulator, **extra: object) -> str:
    body = event_body(attendees=[{"emailAddress": {"address": BOB, "name": "Bob"}, "type": "required"}], **extra)
    return sim.state.create_event(ALICE, body).id


async def test_an_answer_shows_in_the_attendees_status_and_notifies_an_update(
        sim: RunningSimulator, control: httpx.AsyncClient, graph: httpx.AsyncClient, receiver: Receiver) -> None:
    event_id = meeting(sim)
    before = (await graph.get(f"/users/{ALICE}/events/{event_id}")).json()
    assert before["attendees"][0]["status"] == {"response": "none", "time": "0001-01-01T00:00:00Z"}
    subscribe(sim, receiver, ALICE)
    proposal = {"start": {"dateTime": "2025-06-02T11:00:00", "timeZone": "W. Europe Standard Time"},
                "end": {"dateTime": "2025-06-02T12:00:00", "timeZone": "W. Europe Standard Time"}}
    answered = await control.post(f"/outlook/{ALICE}/events/{event_id}/responses",
                                  json={"attendee": BOB.upper(), "response": "declined", "proposedNewTime": proposal})
    assert answered.status_code == 200, answered.text
    after = (await graph.get(f"/users/{ALICE}/events/{event_id}")).json()
    [bob] = after["attendees"]
    assert bob["status"]["response"] == "declined" and not bob["status"]["time"].startswith("0001")
    assert bob["proposedNewTime"]["start"]["dateTime"].startswith("2025-06-02T11:00:00")
    assert bob["proposedNewTime"]["start"]["timeZone"] == "W. Europe Standard Time"
    assert after["changeKey"] != before["changeKey"]
    [item] = receiver.wait_for(lambda items: len(items) == 1, HOOK)
    assert (item["changeType"], item["resourceData"]["id"]) == ("updated", event_id)
    accepted = await control.post(f"/outlook/{ALICE}/events/{event_id}/responses",
                                  json={"attendee": BOB, "response": "accepted"})
    assert "proposedNewTime" not in accepted.json()["attendees"][0]  # a new answer replaces the proposal


@pytest.mark.parametrize(("body", "status"), [
    ({"attendee": BOB, "response": "maybe"}, 400),
    ({"attendee": "carol@contoso.example", "response": "accepted"}, 404),
    ({"attendee": BOB, "response": "accepted", "proposedNewTime": {
        "start": {"dateTime": "2025-06-02T11:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2025-06-02T12:00:00", "timeZone": "UTC"}}}, 400),
    ({"attendee": BOB, "response": "declined", "proposedNewTime": {
        "start": {"dateTime": "2025-06-02T12:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2025-06-02T11:00:00", "timeZone": "UTC"}}}, 400),
])
async def test_answers_outlook_would_not_allow_are_refused(sim: RunningSimulator, control: httpx.AsyncClient,
                                                           body: dict[str, object], status: int) -> None:
    event_id = meeting(sim)
    response = await control.post(f"/outlook/{ALICE}/events/{event_id}/responses", json=body)
    assert response.status_code == status
    assert "error" in response.json()


async def test_no_proposal_when_the_organizer_allows_none(sim: RunningSimulator, control: httpx.AsyncClient) -> None:
    event_id = meeting(sim, allowNewTimeProposals=False)
    response = await control.post(f"/outlook/{ALICE}/events/{event_id}/responses", json={
        "attendee": BOB, "response": "tentativelyAccepted", "proposedNewTime": {
            "start": {"dateTime": "2025-06-02T11:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2025-06-02T12:00:00", "timeZone": "UTC"}}})
    assert response.status_code == 400
