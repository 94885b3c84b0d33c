"""Availability (``POST /api/availability``): free/busy of people and rooms from Graph's getSchedule, and the
free slots when all of them can meet.

Graph takes at most 100 schedules per request, so the addresses go in chunks of 100, asked at once. With
``asUser`` every chunk goes through that person's delegated connection (``/users/{asUser}/calendar/getSchedule``);
otherwise through the app's permission, each chunk via the mailbox of its own first address: getSchedule needs
some mailbox in its URL, Outlook's limits (4 requests at once, 10,000 per 10 minutes) are counted per mailbox, and
a mailbox of the request itself spreads that load over the people asked about instead of spending one fixed
mailbox's budget on every request of the deployment. When Graph does not know that mailbox (a typo, an address
that is not a user principal name), the chunk's next address is tried.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.app.ports.availability import ScheduleReader, ScheduleRequest
from shared.app.ports.telemetry import NO_TELEMETRY, Telemetry
from shared.app.responses import Reply, json_reply, problem
from shared.domain.people.availability import Schedule, free_slots, parse_schedule, render_instant, render_schedule
from shared.domain.people.availability_query import AvailabilityQuery, InvalidQuery, chunked, parse_query
from shared.errors import (
    ConnectorError,
    NeedsReconnect,
    NotFound,
    PermanentError,
    Throttled,
    TransientError,
    UnknownMailbox,
)

__all__ = ["MAILBOX_ATTEMPTS", "MAX_BODY_BYTES", "AvailabilityDeps", "find_availability"]

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 128 * 1024  # 200 addresses of 254 characters and the rest, with room to spare
MAILBOX_ATTEMPTS = 3  # addresses of a chunk tried as the request's mailbox before giving up


@dataclass(frozen=True)
class AvailabilityDeps:
    reader: ScheduleReader
    telemetry: Telemetry = NO_TELEMETRY


async def find_availability(body: bytes, deps: AvailabilityDeps) -> Reply:
    """The request body → 200 with the schedules and free slots, or a problem naming what went wrong."""
    if len(body) > MAX_BODY_BYTES:
        return problem(413, "Request too large", f"the body is {len(body)} bytes; at most {MAX_BODY_BYTES} are taken")
    try:
        query = parse_query(json.loads(body))
    except (ValueError, UnicodeDecodeError) as exc:
        field = exc.field if isinstance(exc, InvalidQuery) else "$"
        detail = str(exc) if isinstance(exc, InvalidQuery) else f"the body is not JSON: {exc}"
        return problem(400, "Invalid availability request", detail, field=field)
    with deps.telemetry.span("find availability", {"schedules": len(query.addresses),
                                                   "delegated": query.as_user is not None}) as span:
        began = time.monotonic()
        try:
            answered = await _ask_graph(query, deps.reader)
        except ConnectorError as exc:
            return _graph_problem(exc, query)
        reply = json_reply(200, _answer(query, answered))
        span.set("elapsed_ms", round((time.monotonic() - began) * 1000))
        return reply


async def _ask_graph(query: AvailabilityQuery, reader: ScheduleReader) -> dict[str, Mapping[str, Any]]:
    chunks = chunked(query.addresses)
    results = await asyncio.gather(*(_ask_chunk(chunk, query, reader) for chunk in chunks), return_exceptions=True)
    answered: dict[str, Mapping[str, Any]] = {}
    for result in results:
        if isinstance(result, BaseException):
            raise result
        for raw in result:
            answered.setdefault(str(raw.get("scheduleId") or "").lower(), raw)
    return answered


async def _ask_chunk(chunk: tuple[str, ...], query: AvailabilityQuery,
                     reader: ScheduleReader) -> Sequence[Mapping[str, Any]]:
    request = ScheduleRequest(chunk, query.start, query.end, query.zone, query.interval_minutes)
    if query.as_user is not None:
        return await reader.get_schedule(request, mailbox=query.as_user, as_user=True)
    candidates = chunk[:MAILBOX_ATTEMPTS]
    for attempt, mailbox in enumerate(candidates, start=1):
        try:
            return await reader.get_schedule(request, mailbox=mailbox)
        except UnknownMailbox:
            if attempt == len(candidates):
                raise
            logger.info("getSchedule through mailbox %d of a chunk: unknown to Graph, trying the next", attempt)
    raise AssertionError("unreachable: a chunk has at least one address")


def _schedule(email: str, answered: Mapping[str, Mapping[str, Any]], query: AvailabilityQuery) -> Schedule:
    raw = answered.get(email)
    if raw is None:
        return Schedule(email, "", (), None, {"code": "notReturned",
                                              "message": "Graph's answer has no schedule for this address"})
    parsed = parse_schedule(raw, query.zone.zone, query.zone.iana)
    return parsed if parsed.email == email else Schedule(email, parsed.availability_view, parsed.items,
                                                         parsed.working_hours, parsed.error)


def _answer(query: AvailabilityQuery, answered: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    people = [_schedule(email, answered, query) for email in query.people]
    rooms = [_schedule(email, answered, query) for email in query.rooms]
    zone = query.zone.zone
    slots = free_slots(query.start, query.end, people, rooms, duration=query.duration,
                       interval_minutes=query.interval_minutes, zone=zone)
    return {
        "timeZone": query.zone.iana,
        "schedules": [render_schedule(s, zone) for s in (*people, *rooms)],
        "freeSlots": [{"start": render_instant(s, zone), "end": render_instant(e, zone)} for s, e in slots],
    }


def _graph_problem(exc: ConnectorError, query: AvailabilityQuery) -> Reply:
    if isinstance(exc, NeedsReconnect):
        return problem(409, "Reconnect needed",
                       f"{exc.user} must reconnect their Microsoft account before availability can be read as them"
                       f" ({exc.reason})", user=exc.user, reason=exc.reason, state="needs-reconnect")
    if isinstance(exc, TransientError):
        reply = problem(503, "Graph unavailable", f"Microsoft Graph could not answer now; retry ({exc})")
        if isinstance(exc, Throttled) and exc.retry_after is not None:
            return Reply(reply.status, reply.body, reply.content_type, {"Retry-After": str(round(exc.retry_after))})
        return reply
    if isinstance(exc, (PermanentError, NotFound)):  # Forbidden, UnknownMailbox, RejectedByGraph, ...
        via = f"as {query.as_user}" if query.as_user else "with the app's permission"
        return problem(502, "Graph refused", f"Microsoft Graph refused getSchedule {via}: {exc}")
    raise exc
