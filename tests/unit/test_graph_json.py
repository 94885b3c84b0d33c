"""The Graph adapters send Graph's JSON and read its answers as JSON through the SDK's request machinery
(httpx.MockTransport under the session's limiter and middleware): what goes out, what comes back where the SDK's
models would have differed (fields they do not know, empty answers), and the error mapping of error bodies."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from azure.core.credentials import AccessToken

from shared.adapters.graph.calendar import SOURCE_KEY_PROPERTY, GraphCalendarGateway
from shared.adapters.graph.meetings import GraphMeetingCalendar
from shared.adapters.graph.rooms import GraphRoomReader
from shared.adapters.graph.session import GraphSession, MailboxConcurrencyLimiter
from shared.config import Settings
from shared.errors import ConnectorError, Forbidden, NotFound, RejectedByGraph, Throttled, TransientError

SETTINGS = Settings(graph_endpoint="https://graph.test/v1.0")
MAILBOX = "anna@contoso.com"
CONTENT = {"subject": "Boiler", "start": {"dateTime": "2026-05-04T08:00:00", "timeZone": "W. Europe Standard Time"},
           "end": {"dateTime": "2026-05-04T09:00:00", "timeZone": "W. Europe Standard Time"},
           "showAs": "busy", "location": {"displayName": ""}, "categories": []}
Handler = Callable[[httpx.Request], httpx.Response]


class Tokens:
    async def get_token(self, *scopes: str, **options: Any) -> AccessToken:
        return AccessToken("token-1", 4102444800)


def session(handler: Handler) -> GraphSession:
    def streamed(request: httpx.Request) -> httpx.Response:  # as a network transport answers
        answer = handler(request)
        return httpx.Response(answer.status_code, headers=answer.headers, stream=httpx.ByteStream(answer.content))

    graph = GraphSession(SETTINGS, Tokens())
    graph.limiter = MailboxConcurrencyLimiter(httpx.MockTransport(streamed))
    return graph


def error(status: int, code: str, message: str = "m", **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}}, headers=headers)


async def test_a_create_sends_the_content_as_it_is_and_reads_an_answer_with_fields_models_lack() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "e1", "iCalUId": "uid-1", "@odata.etag": "W/\"x\"",
                                         "someFutureField": {"nested": [1, None]}})
    gateway = GraphCalendarGateway(session(handler))
    created = await gateway.create(MAILBOX, CONTENT, transaction_id="txn-1", source_key="src/1")
    assert (created.id, created.ical_uid) == ("e1", "uid-1")
    [request] = seen
    assert request.method == "POST" and request.url.path == f"/v1.0/users/{MAILBOX}/events"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == "Bearer token-1"
    assert json.loads(request.content) == {**CONTENT, "transactionId": "txn-1", "singleValueExtendedProperties": [
        {"id": SOURCE_KEY_PROPERTY, "value": "src/1"}]}


@pytest.mark.parametrize("answer,expected,words", [
    (error(400, "ErrorInvalidRequest", "The body is malformed."), RejectedByGraph,
     ["400", "ErrorInvalidRequest", "The body is malformed."]),
    (error(403, "ErrorAccessDenied", "Access to OData is disabled."), Forbidden, ["Test-ApplicationAccessPolicy"]),
    (error(404, "ErrorItemNotFound", "The specified object was not found."), NotFound, ["ErrorItemNotFound"]),
    (error(429, "ApplicationThrottled", "Too many requests.", **{"Retry-After": "120"}), Throttled,
     ["ApplicationThrottled"]),
    (httpx.Response(502, text="<html>Bad gateway</html>", headers={"content-type": "text/html"}), TransientError,
     ["502"]),
])
async def test_error_answers_map_as_the_sdk_models_did(answer: httpx.Response, expected: type[ConnectorError],
                                                        words: list[str]) -> None:
    gateway = GraphCalendarGateway(session(lambda request: answer))
    with pytest.raises(expected) as caught:
        await gateway.update(MAILBOX, "e1", CONTENT, source_key="src/1")
    assert all(word in str(caught.value) for word in words)
    if expected is Throttled:
        assert caught.value.retry_after == 120  # type: ignore[attr-defined]


async def test_a_delete_answered_204_is_done() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        return httpx.Response(204)
    await GraphCalendarGateway(session(handler)).delete(MAILBOX, "e1")
    assert seen == [f"DELETE /v1.0/users/{MAILBOX}/events/e1"]


async def test_tagged_events_follow_next_links_and_count_a_series_once() -> None:
    def tagged(event_id: str, **extra: Any) -> dict[str, Any]:
        return {"id": event_id, "subject": "Boiler", "isAllDay": False, "showAs": "busy", "categories": ["A"],
                "start": {"dateTime": "2026-05-04T06:00:00.0000000", "timeZone": "UTC"},
                "end": {"dateTime": "2026-05-04T07:00:00.0000000", "timeZone": "UTC"}, "location": None,
                "singleValueExtendedProperties": [{"id": SOURCE_KEY_PROPERTY.lower(), "value": "src/1"}], **extra}

    def handler(request: httpx.Request) -> httpx.Response:
        if "skip" not in str(request.url):
            assert request.headers["prefer"] == 'outlook.timezone="UTC"'
            return httpx.Response(200, json={"value": [tagged("o1", type="occurrence", seriesMasterId="s1")],
                                             "@odata.nextLink": "https://graph.test/v1.0/next?skip=1"})
        return httpx.Response(200, json={"value": [tagged("o2", type="occurrence", seriesMasterId="s1"),
                                                   {"id": "untagged", "subject": "Lunch"}]})
    start = datetime(2026, 5, 1, tzinfo=UTC)
    found = await GraphCalendarGateway(session(handler)).tagged_events(MAILBOX, start=start, end=start)
    [event] = found
    assert (event.id, event.source_key) == ("s1", "src/1")
    assert event.content == {"subject": "Boiler", "isAllDay": False, "showAs": "busy", "categories": ["A"],
                             "start": {"dateTime": "2026-05-04T06:00:00.0000000", "timeZone": "UTC"},
                             "end": {"dateTime": "2026-05-04T07:00:00.0000000", "timeZone": "UTC"},
                             "location": {"displayName": ""}}


async def test_a_meeting_patch_answered_without_content_is_read_back_and_a_cancel_answered_202_is_done() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "PATCH":
            return httpx.Response(204)
        if request.method == "POST":
            return httpx.Response(202)
        return httpx.Response(200, json={"id": "e1", "iCalUId": "uid-1", "webLink": "https://outlook.test/e1",
                                         "onlineMeeting": {"joinUrl": "https://teams.test/j"}})
    meetings = GraphMeetingCalendar(session(handler), delegated=None)  # type: ignore[arg-type]
    meeting = await meetings.update(MAILBOX, "e1", {"subject": "New"}, source_key="src/1", acting="application")
    assert meeting.join_url == "https://teams.test/j" and meeting.web_link == "https://outlook.test/e1"
    assert "%24select" in str(seen[1].url) or "$select" in str(seen[1].url)
    await meetings.cancel(MAILBOX, "e1", None, acting="application")
    assert seen[2].url.path == f"/v1.0/users/{MAILBOX}/events/e1/cancel" and json.loads(seen[2].content) == {
        "Comment": ""}


async def test_a_room_delta_page_keeps_removed_items_and_the_delta_link() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"value": [{"id": "e1", "subject": "Team", "unknownField": 1},
                                                   {"id": "e2", "@removed": {"reason": "deleted"}}],
                                         "@odata.deltaLink": "https://graph.test/v1.0/delta?token=t"})
    start = datetime(2026, 5, 1, tzinfo=UTC)
    page = await GraphRoomReader(session(handler)).calendar_delta_page("room@contoso.com", None, start, start)
    assert page.events == [{"id": "e1", "subject": "Team", "unknownField": 1}]
    assert page.removed == ["e2"] and page.delta_link == "https://graph.test/v1.0/delta?token=t"
