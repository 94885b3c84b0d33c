"""calendarView delta and recurring series."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from local.graphsim.server import RunningSimulator

from .simdata import ALICE, event_body

pytestmark = pytest.mark.asyncio

WINDOW = {"startDateTime": "2025-06-01T00:00:00Z", "endDateTime": "2025-07-01T00:00:00Z"}
WEEKLY = {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday", "wednesday"]},
          "range": {"type": "endDate", "startDate": "2025-06-02", "endDate": "2025-06-30"}}


async def all_pages(graph: httpx.AsyncClient, first: httpx.Response) -> tuple[list[dict[str, Any]], str]:
    """Follows nextLinks; returns every item and the deltaLink."""
    items, body = [], first.json()
    while True:
        assert first.status_code == 200, first.text
        items += body["value"]
        assert not ("@odata.nextLink" in body and "@odata.deltaLink" in body)
        if "@odata.deltaLink" in body:
            return items, body["@odata.deltaLink"]
        first = await graph.get(body["@odata.nextLink"], headers={"Prefer": "odata.maxpagesize=2"})
        body = first.json()


async def test_delta_pages_then_reports_changes_since(graph: httpx.AsyncClient,
                                                      sim: RunningSimulator) -> None:
    ids = []
    for day in range(2, 7):
        made = await graph.post(f"/users/{ALICE}/events", json=event_body(
            f"Day {day}", start=f"2025-06-0{day}T09:00:00", end=f"2025-06-0{day}T10:00:00"))
        ids.append(made.json()["id"])
    outside = (await graph.post(f"/users/{ALICE}/events", json=event_body(
        "August", start="2025-08-01T09:00:00", end="2025-08-01T10:00:00"))).json()["id"]
    first = await graph.get(f"/users/{ALICE}/calendarView/delta", params=WINDOW,
                            headers={"Prefer": "odata.maxpagesize=2"})
    assert len(first.json()["value"]) == 2 and "$skiptoken=" in first.json()["@odata.nextLink"]
    items, delta_link = await all_pages(graph, first)
    assert [i["id"] for i in items] == ids
    assert all(i["@odata.type"] == "#microsoft.graph.event" for i in items)
    assert outside not in {i["id"] for i in items}
    assert "$deltatoken=" in delta_link

    nothing = await graph.get(delta_link)
    assert nothing.json()["value"] == [] and "@odata.deltaLink" in nothing.json()

    await graph.patch(f"/users/{ALICE}/events/{ids[0]}", json={"subject": "Changed"})
    await graph.delete(f"/users/{ALICE}/events/{ids[1]}")
    sim.state.outlook_create(ALICE, event_body("From Outlook", start="2025-06-20T09:00:00",
                                               end="2025-06-20T10:00:00"))
    changes, next_link = await all_pages(graph, await graph.get(delta_link))
    by_id = {i["id"]: i for i in changes}
    assert len(changes) == 3
    assert by_id[ids[0]]["subject"] == "Changed"
    assert by_id[ids[1]] == {"@odata.type": "#microsoft.graph.event", "id": ids[1],
                             "@removed": {"reason": "deleted"}}
    assert any(i.get("subject") == "From Outlook" for i in changes)
    assert (await graph.get(next_link)).json()["value"] == []


async def test_unknown_or_expired_tokens_answer_410(graph: httpx.AsyncClient,
                                                    control: httpx.AsyncClient) -> None:
    unknown = await graph.get(f"/users/{ALICE}/calendarView/delta", params={"$deltatoken": "nope"})
    assert unknown.status_code == 410
    assert unknown.json()["error"]["code"] == "SyncStateNotFound"
    _, delta_link = await all_pages(graph, await graph.get(
        f"/users/{ALICE}/calendarView/delta", params=WINDOW))
    assert (await control.post("/delta/expire")).json()["expired"] >= 1
    expired = await graph.get(delta_link)
    assert expired.status_code == 410 and expired.json()["error"]["code"] == "SyncStateNotFound"
    missing_window = await graph.get(f"/users/{ALICE}/calendarView/delta")
    assert missing_window.status_code == 400


async def test_recurring_series_is_one_master_expanded_in_calendar_view(
        graph: httpx.AsyncClient) -> None:
    made = await graph.post(f"/users/{ALICE}/events", json=event_body(
        "Stand-up", start="2025-06-02T09:00:00", end="2025-06-02T09:15:00",
        zone="W. Europe Standard Time", recurrence=WEEKLY))
    assert made.status_code == 201, made.text
    master = made.json()
    assert master["type"] == "seriesMaster"
    assert master["recurrence"]["pattern"]["daysOfWeek"] == ["monday", "wednesday"]
    assert master["recurrence"]["range"]["endDate"] == "2025-06-30"
    listed = (await graph.get(f"/users/{ALICE}/events")).json()["value"]
    assert [e["id"] for e in listed] == [master["id"]]
    view = (await graph.get(f"/users/{ALICE}/calendarView", params=WINDOW | {"$top": "50"})).json()
    starts = [e["start"]["dateTime"][:16] for e in view["value"]]
    # Mondays and Wednesdays of June 2025 from the 2nd to the 30th, 09:00 in Amsterdam = 07:00Z.
    assert starts == [f"2025-06-{d:02d}T07:00" for d in (2, 4, 9, 11, 16, 18, 23, 25, 30)]
    assert {e["type"] for e in view["value"]} == {"occurrence"}
    assert {e["seriesMasterId"] for e in view["value"]} == {master["id"]}
    assert len({e["id"] for e in view["value"]}) == 9
    # An occurrence id from calendarView can be read back like any event.
    third = view["value"][2]
    fetched = await graph.get(f"/users/{ALICE}/events/{third['id']}")
    assert fetched.status_code == 200
    assert fetched.json()["start"] == third["start"] and fetched.json()["type"] == "occurrence"


@pytest.mark.parametrize(("recurrence", "expected"), [
    ({"pattern": {"type": "daily", "interval": 2},
      "range": {"type": "numbered", "startDate": "2025-06-02", "numberOfOccurrences": 3}},
     ["2025-06-02", "2025-06-04", "2025-06-06"]),
    ({"pattern": {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 2},
      "range": {"type": "noEnd", "startDate": "2025-06-02"}},
     ["2025-06-02", "2025-07-02", "2025-08-02"]),
])
async def test_daily_and_monthly_patterns(graph: httpx.AsyncClient, recurrence: dict[str, Any],
                                          expected: list[str]) -> None:
    made = await graph.post(f"/users/{ALICE}/events", json=event_body(recurrence=recurrence))
    assert made.status_code == 201, made.text
    view = await graph.get(f"/users/{ALICE}/calendarView", params={
        "startDateTime": "2025-06-01T00:00:00Z", "endDateTime": "2025-08-31T00:00:00Z"})
    assert [e["start"]["dateTime"][:10] for e in view.json()["value"]] == expected


async def test_unsupported_or_invalid_recurrence_is_refused(graph: httpx.AsyncClient) -> None:
    yearly = {"pattern": {"type": "absoluteYearly", "interval": 1, "month": 6, "dayOfMonth": 2},
              "range": {"type": "noEnd", "startDate": "2025-06-02"}}
    assert (await graph.post(f"/users/{ALICE}/events",
                             json=event_body(recurrence=yearly))).status_code == 400
    no_days = {"pattern": {"type": "weekly", "interval": 1},
               "range": {"type": "noEnd", "startDate": "2025-06-02"}}
    assert (await graph.post(f"/users/{ALICE}/events",
                             json=event_body(recurrence=no_days))).status_code == 400


async def test_delta_reports_occurrences_and_their_removal(graph: httpx.AsyncClient) -> None:
    _, delta_link = await all_pages(graph, await graph.get(
        f"/users/{ALICE}/calendarView/delta", params=WINDOW))
    master = (await graph.post(f"/users/{ALICE}/events", json=event_body(
        "Stand-up", start="2025-06-02T09:00:00", end="2025-06-02T09:15:00",
        recurrence=WEEKLY))).json()
    added, delta_link = await all_pages(graph, await graph.get(delta_link))
    assert len(added) == 9 and {i["seriesMasterId"] for i in added} == {master["id"]}
    await graph.delete(f"/users/{ALICE}/events/{master['id']}")
    removed, _ = await all_pages(graph, await graph.get(delta_link))
    assert {i["id"] for i in removed} == {i["id"] for i in added}
    assert all(i["@removed"] == {"reason": "deleted"} for i in removed)
