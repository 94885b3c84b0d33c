"""getSchedule as Graph answers it: items and availabilityView from the calendars, working hours, per-schedule
errors for unknown addresses, Graph's limits with Graph's codes, and who may ask (app roles, a person's scopes)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from local.graphsim.server import RunningSimulator

from .simdata import ALICE, BOB, CLIENT_ID, event_body


def window(start: str = "2025-06-02T08:00:00", end: str = "2025-06-02T12:00:00", zone: str = "UTC",
           interval: int | None = 60, schedules: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"schedules": schedules or [ALICE], "startTime": {"dateTime": start, "timeZone": zone},
                            "endTime": {"dateTime": end, "timeZone": zone}}
    if interval is not None:
        body["availabilityViewInterval"] = interval
    return body


async def get_schedule(graph: httpx.AsyncClient, body: dict[str, Any], mailbox: str = ALICE,
                       **headers: str) -> httpx.Response:
    return await graph.post(f"/users/{mailbox}/calendar/getSchedule", json=body, headers=headers)


async def test_busy_tentative_and_free_events_make_items_and_the_view(sim: RunningSimulator,
                                                                      graph: httpx.AsyncClient) -> None:
    sim.state.create_event(ALICE, event_body("Standup", "2025-06-02T09:00:00", "2025-06-02T09:30:00"))
    sim.state.create_event(ALICE, event_body("Maybe", "2025-06-02T10:00:00", "2025-06-02T11:00:00",
                                             showAs="tentative"))
    sim.state.create_event(ALICE, event_body("Away", "2025-06-02T11:00:00", "2025-06-02T11:15:00", showAs="oof"))
    sim.state.create_event(ALICE, event_body("Focus", "2025-06-02T08:00:00", "2025-06-02T08:30:00", showAs="free"))
    response = await get_schedule(graph, window(), Prefer='outlook.timezone="W. Europe Standard Time"')
    assert response.status_code == 200, response.text
    [schedule] = response.json()["value"]
    assert schedule["scheduleId"] == ALICE and schedule["availabilityView"] == "0213"
    assert [(i["status"], i["start"]["dateTime"], i["start"]["timeZone"]) for i in schedule["scheduleItems"]] == [
        ("free", "2025-06-02T10:00:00.0000000", "W. Europe Standard Time"),
        ("busy", "2025-06-02T11:00:00.0000000", "W. Europe Standard Time"),
        ("tentative", "2025-06-02T12:00:00.0000000", "W. Europe Standard Time"),
        ("oof", "2025-06-02T13:00:00.0000000", "W. Europe Standard Time")]
    assert schedule["workingHours"] == {"daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                                        "startTime": "08:00:00.0000000", "endTime": "17:00:00.0000000",
                                        "timeZone": {"name": "UTC"}}


async def test_occurrences_of_a_series_are_items(sim: RunningSimulator, graph: httpx.AsyncClient) -> None:
    sim.state.create_event(ALICE, event_body("Daily", "2025-06-01T09:00:00", "2025-06-01T09:30:00", recurrence={
        "pattern": {"type": "daily", "interval": 1},
        "range": {"type": "noEnd", "startDate": "2025-06-01"}}))
    response = await get_schedule(graph, window(start="2025-06-02T00:00:00", end="2025-06-04T00:00:00",
                                                 interval=1440))
    [schedule] = response.json()["value"]
    assert [i["start"]["dateTime"][:16] for i in schedule["scheduleItems"]] == ["2025-06-02T09:00", "2025-06-03T09:00"]
    assert schedule["availabilityView"] == "22"


async def test_an_unknown_address_is_an_entry_with_an_error_and_the_rest_is_answered(
        graph: httpx.AsyncClient) -> None:
    response = await get_schedule(graph, window(schedules=["nobody@contoso.example", "ROBERT@contoso.example"]))
    assert response.status_code == 200
    unknown, bob = response.json()["value"]
    assert unknown == {"scheduleId": "nobody@contoso.example", "error": {
        "message": "Unable to resolve e-mail address nobody@contoso.example to an Active Directory object.",
        "responseCode": "5009"}}
    assert bob["scheduleId"] == "ROBERT@contoso.example" and bob["availabilityView"] == "0000"


async def test_working_hours_are_set_through_the_control_api(control: httpx.AsyncClient,
                                                             graph: httpx.AsyncClient) -> None:
    answer = await control.put(f"/users/{BOB}/working-hours", json={
        "daysOfWeek": ["Tuesday", "monday"], "startTime": "09:30", "timeZone": "Pacific Standard Time"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"daysOfWeek": ["monday", "tuesday"], "startTime": "09:30:00.0000000",
                             "endTime": "17:00:00.0000000", "timeZone": {"name": "Pacific Standard Time"}}
    [schedule] = (await get_schedule(graph, window(schedules=[BOB]))).json()["value"]
    assert schedule["workingHours"] == answer.json()
    assert (await control.put(f"/users/{BOB}/working-hours", json={"timeZone": "Mars/Olympus"})).status_code == 400
    assert (await control.put("/users/nobody@x.example/working-hours", json={})).status_code == 404


@pytest.mark.parametrize(("body", "code"), [
    (window(schedules=[f"p{n}@contoso.example" for n in range(101)]), "ErrorMailboxDataArrayTooBig"),
    (window(start="2025-06-01T00:00:00", end="2025-08-02T00:00:01"), "ErrorTimeIntervalTooBig"),
    (window(start="2025-06-02T12:00:00", end="2025-06-02T12:00:00"), "ErrorInvalidTimeInterval"),
    (window(interval=4), "ErrorInvalidMergedFreeBusyInterval"),
    (window(interval=1441), "ErrorInvalidMergedFreeBusyInterval"),
    (window(end="2025-06-02T08:30:00", interval=60), "ErrorInvalidMergedFreeBusyInterval"),
    (window(zone="Mars/Olympus"), "TimeZoneNotSupportedException"),
])
async def test_graphs_limits_are_graphs_400s(graph: httpx.AsyncClient, body: dict[str, Any], code: str) -> None:
    response = await get_schedule(graph, body)
    assert response.status_code == 400 and response.json()["error"]["code"] == code, response.text


async def test_limits_at_their_edge_are_taken(graph: httpx.AsyncClient) -> None:
    at_most = window(start="2025-06-01T00:00:00", end="2025-08-02T00:00:00", interval=1440,
                     schedules=[f"p{n}@contoso.example" for n in range(100)])
    response = await get_schedule(graph, at_most)
    assert response.status_code == 200 and len(response.json()["value"]) == 100
    assert len(response.json()["value"][0]["error"]) == 2


async def test_the_view_interval_defaults_to_30_minutes(graph: httpx.AsyncClient) -> None:
    [schedule] = (await get_schedule(graph, window(interval=None))).json()["value"]
    assert schedule["availabilityView"] == "0" * 8


async def test_the_mailbox_in_the_url_must_exist(graph: httpx.AsyncClient) -> None:
    response = await get_schedule(graph, window(), mailbox="ghost@contoso.example")
    assert response.status_code == 404 and response.json()["error"]["code"] == "ErrorInvalidUser"


async def test_an_app_without_a_calendar_permission_is_refused(sim: RunningSimulator, ssl_ctx: Any,
                                                               token: str) -> None:
    sim.state.creds.grant_roles(CLIENT_ID, ["User.Read.All"], replace=True)
    from .simdata import fetch_token

    fresh = fetch_token(sim, ssl_ctx).json()["access_token"]
    async with httpx.AsyncClient(base_url=sim.graph_endpoint, verify=ssl_ctx,
                                 headers={"Authorization": f"Bearer {fresh}"}) as client:
        response = await get_schedule(client, window())
    assert response.status_code == 403 and response.json()["error"]["code"] == "ErrorAccessDenied"


async def test_a_person_asks_through_their_own_mailbox_only(sim: RunningSimulator, ssl_ctx: Any,
                                                            control: httpx.AsyncClient) -> None:
    minted = await control.post("/people/tokens", json={"user": ALICE, "scopes": ["Calendars.ReadBasic"],
                                                          "clientId": CLIENT_ID})
    assert minted.status_code == 201, minted.text
    async with httpx.AsyncClient(base_url=sim.graph_endpoint, verify=ssl_ctx,
                                 headers={"Authorization": f"Bearer {minted.json()['access_token']}"}) as client:
        mine = await get_schedule(client, window(schedules=[ALICE, BOB]))
        theirs = await get_schedule(client, window(), mailbox=BOB)
    assert mine.status_code == 200 and len(mine.json()["value"]) == 2, mine.text
    assert theirs.status_code == 403
    unscoped = await control.post("/people/tokens", json={"user": ALICE, "scopes": ["User.Read"],
                                                            "clientId": CLIENT_ID})
    async with httpx.AsyncClient(base_url=sim.graph_endpoint, verify=ssl_ctx,
                                 headers={"Authorization": f"Bearer {unscoped.json()['access_token']}"}) as client:
        assert (await get_schedule(client, window())).status_code == 403
