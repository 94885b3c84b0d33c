"""Events in a mailbox's default calendar: shape, writes, transactionId, extended properties."""

from __future__ import annotations

from urllib.parse import quote

import httpx

from local.graphsim.server import RunningSimulator

from .simdata import ALICE, BOB, event_body

PROP = "String {66f5a359-4659-4830-9070-00040ec6ac6e} Name PlanningId"
OTHER_PROP = "String {66f5a359-4659-4830-9070-00040ec6ac6e} Name Other"
EVENTS = f"/users/{ALICE}/events"


def with_prop(value: str, **kw: object) -> dict:
    return event_body(**kw) | {"singleValueExtendedProperties": [{"id": PROP, "value": value}]}


async def test_a_created_event_looks_like_graphs(graph: httpx.AsyncClient) -> None:
    response = await graph.post(EVENTS, json=event_body(
        body={"contentType": "HTML", "content": "<html><body><p>Bring &amp; share</p></body></html>"},
        location={"displayName": "Room 1"},
        attendees=[{"emailAddress": {"address": BOB, "name": "Bob"}, "type": "required"}]))
    assert response.status_code == 201
    ev = response.json()
    assert ev["@odata.context"].endswith("/events/$entity")
    assert ev["@odata.etag"] == f'W/"{ev["changeKey"]}"'
    assert len(ev["id"]) > 100 and ev["iCalUId"]
    assert ev["type"] == "singleInstance" and ev["isCancelled"] is False
    assert ev["bodyPreview"] == "Bring & share"
    assert ev["start"] == {"dateTime": "2025-06-02T09:00:00.0000000", "timeZone": "UTC"}
    assert ev["organizer"] == {"emailAddress": {"name": "Alice Example", "address": ALICE}}
    assert ev["attendees"][0]["status"] == {"response": "none", "time": "0001-01-01T00:00:00Z"}
    assert ev["locations"][0]["displayName"] == "Room 1"
    assert "transactionId" not in ev  # only returned when the client set one
    assert "webLink" in ev and "createdDateTime" in ev and "lastModifiedDateTime" in ev


async def test_a_repeated_transaction_id_returns_the_original_event_and_creates_nothing(
        sim: RunningSimulator, graph: httpx.AsyncClient) -> None:
    first = await graph.post(EVENTS, json=event_body(transactionId="tx-1"))
    again = await graph.post(EVENTS, json=event_body(subject="Changed", transactionId="tx-1"))
    other_mailbox = await graph.post(f"/users/{BOB}/events", json=event_body(transactionId="tx-1"))
    assert first.status_code == again.status_code == other_mailbox.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.json()["subject"] == "Planning"
    assert again.json()["transactionId"] == "tx-1"
    assert other_mailbox.json()["id"] != first.json()["id"]
    assert len(sim.state.events_of(ALICE)) == 1


async def test_get_patch_and_delete_work_on_the_event_and_the_calendar_alias(
        graph: httpx.AsyncClient) -> None:
    created = (await graph.post(f"/users/{ALICE}/calendar/events", json=event_body(
        location={"displayName": "Room 1"}, categories=["Blue"]))).json()
    item = f"{EVENTS}/{quote(created['id'], safe='')}"
    patched = await graph.patch(item, json={"subject": "Moved", "location": {"displayName": "Room 2"}})
    assert patched.status_code == 200
    body = patched.json()
    assert body["subject"] == "Moved" and body["categories"] == ["Blue"]  # merged, not replaced
    assert [loc["displayName"] for loc in body["locations"]] == ["Room 2"]
    assert body["changeKey"] != created["changeKey"]
    got = await graph.get(f"/users/{ALICE}/calendar/events/{created['id']}")
    assert got.status_code == 200 and got.json()["subject"] == "Moved"
    assert (await graph.delete(item)).status_code == 204
    for response in (await graph.get(item), await graph.delete(item), await graph.patch(item, json={})):
        assert response.status_code == 404
        assert response.json()["error"] == response.json()["error"] | {
            "code": "ErrorItemNotFound", "message": "The specified object was not found in the store."}


async def test_extended_properties_are_kept_but_only_returned_when_expanded(
        graph: httpx.AsyncClient) -> None:
    created = await graph.post(EVENTS, json=with_prop("plan-1") | {
        "singleValueExtendedProperties": [{"id": PROP, "value": "plan-1"},
                                          {"id": OTHER_PROP, "value": "x"}]})
    assert "singleValueExtendedProperties" not in created.json()
    item = f"{EVENTS}/{created.json()['id']}"
    patched = await graph.patch(item, json={
        "singleValueExtendedProperties": [{"id": PROP, "value": "plan-2"}]})
    assert "singleValueExtendedProperties" not in patched.json()
    assert "singleValueExtendedProperties" not in (await graph.get(item)).json()
    expanded = await graph.get(item, params={
        "$expand": f"singleValueExtendedProperties($filter=id eq '{PROP}')"})
    assert expanded.json()["singleValueExtendedProperties"] == [{"id": PROP, "value": "plan-2"}]


async def test_events_are_found_by_extended_property_value_ignoring_its_case(
        graph: httpx.AsyncClient) -> None:
    wanted = (await graph.post(EVENTS, json=with_prop("Plan-7"))).json()
    await graph.post(EVENTS, json=with_prop("plan-8"))
    await graph.post(EVENTS, json=event_body())
    flt = f"singleValueExtendedProperties/Any(ep: ep/id eq '{PROP}' and ep/value eq 'PLAN-7')"
    found = await graph.get(EVENTS, params={
        "$filter": flt, "$select": "subject",
        "$expand": f"singleValueExtendedProperties($filter=id eq '{PROP}')"})
    assert found.status_code == 200
    (ev,) = found.json()["value"]
    assert ev["id"] == wanted["id"]
    assert ev.keys() == {"@odata.etag", "id", "subject", "singleValueExtendedProperties"}
    # The Name part of the id is case-sensitive.
    wrong_name = flt.replace("PlanningId", "planningid")
    assert (await graph.get(EVENTS, params={"$filter": wrong_name})).json()["value"] == []


async def test_the_extended_property_filter_combines_with_a_start_time_bound(
        graph: httpx.AsyncClient) -> None:
    await graph.post(EVENTS, json=with_prop("p", start="2024-12-31T22:00:00", end="2024-12-31T23:00:00"))
    late = (await graph.post(EVENTS, json=with_prop(
        "p", start="2025-01-01T00:30:00", end="2025-01-01T01:00:00", zone="Europe/Berlin"))).json()
    later = (await graph.post(EVENTS, json=with_prop(
        "p", start="2025-01-02T10:00:00", end="2025-01-02T11:00:00"))).json()
    flt = (f"singleValueExtendedProperties/Any(ep: ep/id eq '{PROP}' and ep/value eq 'p') "
           "and start/dateTime ge '2024-12-31T23:00:00Z'")
    found = await graph.get(EVENTS, params={"$filter": flt, "$top": "1"})
    assert [e["id"] for e in found.json()["value"]] == [late["id"]]  # 00:30 Berlin = 23:30 UTC
    nxt = await graph.get(found.json()["@odata.nextLink"])
    assert [e["id"] for e in nxt.json()["value"]] == [later["id"]]
    assert "@odata.nextLink" not in nxt.json()


async def test_a_filter_it_cannot_evaluate_is_a_bad_request(graph: httpx.AsyncClient) -> None:
    for flt in ("subject eq 'x'", "singleValueExtendedProperties/Any(ep: ep/value eq 'x')",
                "start/dateTime ge '2025-01-01T00:00:00Z' or start/dateTime lt 'x'",
                f"singleValueExtendedProperties/Any(ep: ep/id eq '{PROP}'"):
        response = await graph.get(EVENTS, params={"$filter": flt})
        assert response.status_code == 400, flt
        assert response.json()["error"]["code"] == "BadRequest"
        assert response.json()["error"]["message"] == "Invalid filter clause"


async def test_invalid_event_writes_are_rejected(graph: httpx.AsyncClient) -> None:
    backwards = await graph.post(EVENTS, json=event_body(start="2025-06-02T10:00:00",
                                                         end="2025-06-02T09:00:00"))
    not_midnight = await graph.post(EVENTS, json=event_body(isAllDay=True))
    unknown = await graph.post(EVENTS, json=event_body(colour="red"))
    for response in (backwards, not_midnight):
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "ErrorPropertyValidationFailure"
    assert unknown.status_code == 400 and "colour" in unknown.json()["error"]["message"]
    all_day = await graph.post(EVENTS, json=event_body(
        isAllDay=True, start="2025-06-02T00:00:00", end="2025-06-03T00:00:00",
        zone="W. Europe Standard Time"))
    assert all_day.status_code == 201


async def test_the_control_api_shows_every_event_with_hidden_fields_in_utc(
        graph: httpx.AsyncClient, control: httpx.AsyncClient) -> None:
    await graph.post(EVENTS, json=with_prop("b", start="2025-06-03T09:00:00", end="2025-06-03T10:00:00"))
    await graph.post(EVENTS, json=with_prop("a", start="2025-06-02T11:00:00", end="2025-06-02T12:00:00",
                                            zone="Europe/Berlin", transactionId="tx-a"))
    events = (await control.get(f"/mailboxes/{ALICE}/events")).json()["value"]
    assert [e["singleValueExtendedProperties"][0]["value"] for e in events] == ["a", "b"]
    assert events[0]["start"] == {"dateTime": "2025-06-02T09:00:00.0000000", "timeZone": "UTC"}
    assert events[0]["transactionId"] == "tx-a"
    assert (await control.get("/mailboxes/nobody@x.example/events")).status_code == 404
