"""Time zone handling (Windows and IANA names, DST, Prefer) and calendarView windows and paging."""

from __future__ import annotations

import httpx
import pytest

from .simdata import ALICE, event_body

EVENTS = f"/users/{ALICE}/events"
VIEW = f"/users/{ALICE}/calendarView"


@pytest.mark.parametrize("zone", ["Europe/Berlin", "W. Europe Standard Time"])
async def test_the_same_wall_time_maps_to_different_utc_across_the_dst_change(
        graph: httpx.AsyncClient, zone: str) -> None:
    # Germany moves to summer time on 2025-03-30: 10:00 is 09:00 UTC before, 08:00 UTC after.
    before = await graph.post(EVENTS, json=event_body(
        start="2025-03-29T10:00:00", end="2025-03-29T11:00:00", zone=zone))
    after = await graph.post(EVENTS, json=event_body(
        start="2025-03-31T10:00:00", end="2025-03-31T11:00:00", zone=zone))
    assert before.json()["start"] == {"dateTime": "2025-03-29T10:00:00.0000000", "timeZone": zone}
    got_before = await graph.get(f"{EVENTS}/{before.json()['id']}")
    got_after = await graph.get(f"{EVENTS}/{after.json()['id']}")
    assert got_before.json()["start"]["dateTime"] == "2025-03-29T09:00:00.0000000"
    assert got_after.json()["start"]["dateTime"] == "2025-03-31T08:00:00.0000000"
    assert got_after.json()["start"]["timeZone"] == "UTC"


async def test_prefer_outlook_timezone_renders_reads_in_that_zone(
        graph: httpx.AsyncClient) -> None:
    created = await graph.post(EVENTS, json=event_body(
        start="2025-07-01T07:00:00", end="2025-07-01T08:00:00"))
    prefer = {"Prefer": 'outlook.timezone="W. Europe Standard Time"'}
    got = await graph.get(f"{EVENTS}/{created.json()['id']}", headers=prefer)
    assert got.json()["start"] == {"dateTime": "2025-07-01T09:00:00.0000000",
                                   "timeZone": "W. Europe Standard Time"}
    listed = await graph.get(EVENTS, headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'})
    assert listed.json()["value"][0]["end"] == {"dateTime": "2025-07-01T01:00:00.0000000",
                                                "timeZone": "Pacific Standard Time"}


async def test_an_unknown_time_zone_is_rejected(graph: httpx.AsyncClient) -> None:
    response = await graph.post(EVENTS, json=event_body(zone="Mars/Olympus_Mons"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "TimeZoneNotSupportedException"


async def test_calendar_view_needs_both_window_bounds(graph: httpx.AsyncClient) -> None:
    response = await graph.get(VIEW, params={"startDateTime": "2025-06-01T00:00:00Z"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "ErrorInvalidParameter"


async def test_calendar_view_returns_overlapping_events_ordered_by_start(
        graph: httpx.AsyncClient) -> None:
    def make(subject: str, start: str, end: str) -> dict:
        return event_body(subject=subject, start=start, end=end)

    for body in (make("late", "2025-06-02T15:00:00", "2025-06-02T16:00:00"),
                 make("spans-start", "2025-06-01T23:00:00", "2025-06-02T01:00:00"),
                 make("ends-at-start", "2025-06-01T22:00:00", "2025-06-02T00:00:00"),
                 make("outside", "2025-06-03T08:00:00", "2025-06-03T09:00:00"),
                 make("early", "2025-06-02T08:00:00", "2025-06-02T09:00:00")):
        assert (await graph.post(EVENTS, json=body)).status_code == 201
    response = await graph.get(VIEW, params={"startDateTime": "2025-06-02T00:00:00Z",
                                             "endDateTime": "2025-06-03T00:00:00Z"})
    assert [e["subject"] for e in response.json()["value"]] == ["spans-start", "early", "late"]


async def test_calendar_view_pages_with_next_links(graph: httpx.AsyncClient) -> None:
    for hour in range(12):
        await graph.post(EVENTS, json=event_body(subject=f"e{hour:02d}",
                                                 start=f"2025-06-02T{hour:02d}:00:00",
                                                 end=f"2025-06-02T{hour:02d}:30:00"))
    window = {"startDateTime": "2025-06-02T00:00:00", "endDateTime": "2025-06-03T00:00:00"}
    default = await graph.get(VIEW, params=window)
    assert len(default.json()["value"]) == 10 and "@odata.nextLink" in default.json()

    seen: list[str] = []
    url: str | None = f"{VIEW}?startDateTime={window['startDateTime']}&endDateTime={window['endDateTime']}"
    while url:
        page = (await graph.get(url, headers={"Prefer": "odata.maxpagesize=5"})).json()
        assert len(page["value"]) <= 5
        seen += [e["subject"] for e in page["value"]]
        url = page.get("@odata.nextLink")
    assert seen == [f"e{h:02d}" for h in range(12)]

    top = await graph.get(VIEW, params=window | {"$top": "4"})
    assert [e["subject"] for e in top.json()["value"]] == ["e00", "e01", "e02", "e03"]
