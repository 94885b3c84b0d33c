from __future__ import annotations

import asyncio
import gzip
from collections import Counter

import httpx
import pytest

from shared.adapters.graph.calendar import classify_graph_error
from shared.adapters.graph.session import (
    MAILBOX_CONCURRENCY,
    MailboxConcurrencyLimiter,
    mailbox_of_url,
    retry_after_seconds,
)
from shared.errors import (
    ConcurrencyConflict,
    Forbidden,
    NotFound,
    RejectedByGraph,
    Throttled,
    TransientError,
    UnknownMailbox,
)
from tests.graphsim.receiver import wait_until_async


@pytest.mark.parametrize("status,code,expected", [
    (429, "TooManyRequests", Throttled),
    (503, None, Throttled),
    (504, None, Throttled),
    (404, "ErrorItemNotFound", NotFound),
    (404, "ErrorInvalidUser", UnknownMailbox),
    (403, "ErrorAccessDenied", Forbidden),
    (400, "ErrorInvalidRequest", RejectedByGraph),
    (412, "ErrorIrresolvableConflict", ConcurrencyConflict),
    (500, "InternalServerError", TransientError),
    (401, "InvalidAuthenticationToken", TransientError),
])
def test_graph_answers_map_to_connector_errors(status: int, code: str | None, expected: type) -> None:
    error = classify_graph_error(status, code, "message", {}, "anna@contoso.com")
    assert type(error) is expected


def test_throttling_keeps_the_retry_after() -> None:
    error = classify_graph_error(429, "TooManyRequests", "Please retry again later.", {"Retry-After": "17"}, "a@b.c")
    assert isinstance(error, Throttled) and error.retry_after == 17


def test_an_access_policy_denial_tells_the_operator_where_to_look() -> None:
    error = classify_graph_error(403, "ErrorAccessDenied", "Access to OData is disabled.", {}, "anna@contoso.com")
    assert "anna@contoso.com" in str(error) and "Test-ApplicationAccessPolicy" in str(error)


@pytest.mark.parametrize("value,seconds", [("10", 10.0), ("2.5", 2.5), (None, None), ("soon", None)])
def test_retry_after_is_read_as_seconds(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value) == seconds


def test_the_mailbox_is_read_from_the_request_path() -> None:
    assert mailbox_of_url("https://graph.microsoft.com/v1.0/users/Anna%40contoso.com/events/AAM") == "anna@contoso.com"
    assert mailbox_of_url("https://graph.microsoft.com/v1.0/subscriptions") is None


class _Wire(httpx.AsyncBaseTransport):
    """Holds requests until opened, counting those in flight to the one room (by address or by id) and
    to anything else; answers gzip-encoded JSON, as Graph may."""

    def __init__(self) -> None:
        self.in_flight: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.closed = 0
        self.open = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        mailbox = "room" if mailbox_of_url(request.url) else "other"
        self.in_flight[mailbox] += 1
        self.peak[mailbox] = max(self.peak[mailbox], self.in_flight[mailbox])
        await self.open.wait()
        self.in_flight[mailbox] -= 1
        return httpx.Response(200, stream=httpx.ByteStream(gzip.compress(b'{"value": []}')),
                              headers={"content-encoding": "gzip"})

    async def aclose(self) -> None:
        self.closed += 1


async def test_one_mailbox_by_address_and_by_id_has_four_requests_in_flight_at_most() -> None:
    wire = _Wire()
    limiter = MailboxConcurrencyLimiter(wire)
    limiter.alias("0a1b-id", "Room.Alpha@contoso.com")
    urls = [f"https://graph.microsoft.com/v1.0/users/{who}/events" for who in ("room.alpha@contoso.com", "0a1b-id")]
    async with httpx.AsyncClient(transport=limiter) as first, httpx.AsyncClient(transport=limiter) as second:
        calls = [asyncio.ensure_future(client.get(url)) for client in (first, second) for url in urls * 6]
        calls.append(asyncio.ensure_future(second.get("https://graph.microsoft.com/v1.0/subscriptions")))
        await wait_until_async(lambda: wire.in_flight["other"] == 1)  # not a mailbox: not gated
        for _ in range(100):
            await asyncio.sleep(0)  # every request that the limiter lets through reaches the wire
        wire.open.set()
        answers = await asyncio.gather(*calls)
    assert all(a.json() == {"value": []} for a in answers)  # the body read inside the gate is intact
    assert wire.peak["room"] == MAILBOX_CONCURRENCY
    assert wire.closed == 1  # two clients over one transport: closed once
