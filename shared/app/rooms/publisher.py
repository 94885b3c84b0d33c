"""Publishing to the booking system: the event log (pull API) and the outbound webhook, in order per stream.

Every published CloudEvent is appended to the log first (the pull API serves it from there, in global
publication order). When ``CONNECTOR_OUTBOUND_WEBHOOK_URL`` is set, it is also appended to the outbox of
its stream (the room; all user events form one stream), and a small message naming the stream is queued
on ``outbound-events`` (session = the stream). The delivery worker drains a stream's outbox oldest
first: a failed delivery keeps the event at the head and blocks the later ones of that stream, retried
with exponential backoff (a scheduled message wakes the stream), until it is delivered or, refused for
good or after ``MAX_ATTEMPTS``, dead-lettered with the reason; then the rest go on. ``webhook-id`` is the
CloudEvent id on every attempt, so receivers deduplicate.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from shared.app.messaging import OutboundMessage, queue_id
from shared.app.planning.sync import ATTEMPT_PROPERTY, Delivery, dead_letter
from shared.app.ports.rooms import OutboxItem, WebhookSender
from shared.app.responses import Reply, json_reply, problem
from shared.app.rooms.services import OUTBOUND_QUEUE
from shared.bootstrap import Services
from shared.errors import PermanentError

__all__ = ["MAX_ATTEMPTS", "backoff", "deliver", "publish", "pull", "stream_of"]

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 16
PULL_LIMIT = 200
DRAIN_LIMIT = 25  # events delivered per invocation; a stream with more continues in a new message
USERS_STREAM = "users"
# The log's row keys: ASCII decimal digits ("²".isdigit() is true, yet no row key has it).
_CURSOR = re.compile(r"[0-9]{1,20}", re.ASCII)


def backoff(attempt: int) -> timedelta:
    """2 s, 4 s, 8 s ... capped at one hour: with MAX_ATTEMPTS about 5 hours before the dead-letter list."""
    return timedelta(seconds=min(2 ** attempt, 3600))


def stream_of(event: dict[str, Any]) -> str:
    """The stream whose order the webhook keeps: the room of a reservation, else one stream per type family."""
    data = event.get("data")
    room = data.get("room") if isinstance(data, dict) else None
    if isinstance(room, str) and room:
        return room.lower()
    return USERS_STREAM if str(event.get("type", "")).startswith("user.") else str(event.get("subject", ""))


async def publish(events: list[dict[str, Any]], services: Services) -> None:
    if not events:
        return
    ports = services.rooms()
    await ports.log.append(events)
    if services.settings.rooms.outbound_webhook_url:
        streams: dict[str, list[dict[str, Any]]] = {}
        for event in events:
            streams.setdefault(stream_of(event), []).append(event)
        for stream, batch in streams.items():
            first = await ports.outbox.add(stream, batch)
            await _wake(stream, services, first)
    for event in events:
        logger.info("published %s %s (id %s)", event["type"], event["subject"], event["id"])


async def _wake(stream: str, services: Services, *id_parts: str, at: datetime | None = None) -> None:
    """Queue a message that makes the worker drain ``stream`` (now, or at ``at``)."""
    await services.queue.send(OUTBOUND_QUEUE, [OutboundMessage(
        body=json.dumps({"stream": stream}).encode("utf-8"), message_id=queue_id(stream, *id_parts),
        session_id=queue_id(stream), content_type="application/json", scheduled_enqueue_time=at)])


async def deliver(body: bytes, delivery: Delivery, services: Services) -> str:
    """Settle one ``outbound-events`` message: drain a stream, or post one CloudEvent (a replayed dead letter)."""
    try:
        message = json.loads(body)
    except ValueError:
        message = None
    if isinstance(message, dict) and isinstance(message.get("stream"), str) and "id" not in message:
        return await _drain(message["stream"], services)
    if not (isinstance(message, dict) and "id" in message and "subject" in message):
        await dead_letter(body, delivery, services, "not a CloudEvent", OUTBOUND_QUEUE)
        return "dead-lettered"
    return await _deliver_one(message, body, delivery, services)


async def _drain(stream: str, services: Services) -> str:
    ports = services.rooms()
    sender = ports.webhook()
    if sender is None:
        logger.warning("stream %s not delivered: CONNECTOR_OUTBOUND_WEBHOOK_URL is not set", stream)
        return "no webhook"
    outcome = "nothing to deliver"
    for _ in range(DRAIN_LIMIT):
        item = await ports.outbox.head(stream)
        if item is None:
            return outcome
        now = services.clock()
        if item.not_before is not None and item.not_before > now:
            # The head is waiting for its retry: the later events of the stream wait behind it.
            await _wake(stream, services, item.key, f"retry{item.attempts}", at=item.not_before)
            return "waiting"
        outcome = await _attempt(item, sender, services)
        if outcome == "rescheduled":
            return outcome
    following = await ports.outbox.head(stream)
    if following is not None:  # more than one invocation's share: continue in a fresh message
        await _wake(stream, services, following.key, "more")
    return outcome


async def _attempt(item: OutboxItem, sender: WebhookSender, services: Services) -> str:
    outbox = services.rooms().outbox
    event_id = item.event["id"]
    try:
        await sender.send(item.event)
    except PermanentError as exc:
        await _give_up(item, f"the booking system refused event {event_id}: {exc}", services)
        return "dead-lettered"
    except Exception as exc:
        attempts = item.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            await _give_up(item, f"the booking system did not take event {event_id} in {attempts} attempts: {exc}",
                           services)
            return "dead-lettered"
        retry_at = services.clock() + backoff(attempts)
        await outbox.save(replace(item, attempts=attempts, not_before=retry_at))
        await _wake(item.stream, services, item.key, f"retry{attempts}", at=retry_at)
        logger.warning("event %s delivery attempt %d failed (%s); retrying in %s, later events of %s wait",
                       event_id, attempts, exc, backoff(attempts), item.stream)
        return "rescheduled"
    await outbox.remove(item)
    logger.info("event %s delivered to the booking system (attempt %d)", event_id, item.attempts + 1)
    return "delivered"


async def _give_up(item: OutboxItem, reason: str, services: Services) -> None:
    """Dead-letter the head (a replay posts it on its own) and let the rest of the stream go on."""
    body = json.dumps(item.event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    delivery = Delivery(queue_id(item.event["id"]), item.attempts + 1, queue_id(item.stream))
    await dead_letter(body, delivery, services, reason, OUTBOUND_QUEUE)
    await services.rooms().outbox.remove(item)


async def _deliver_one(event: dict[str, Any], body: bytes, delivery: Delivery, services: Services) -> str:
    """A single CloudEvent (a replayed dead letter): posted on its own, retried with backoff."""
    sender = services.rooms().webhook()
    if sender is None:
        logger.warning("event %s not delivered: CONNECTOR_OUTBOUND_WEBHOOK_URL is not set", event["id"])
        return "no webhook"
    try:
        await sender.send(event)
    except PermanentError as exc:
        await dead_letter(body, delivery, services, f"the booking system refused event {event['id']}: {exc}",
                          OUTBOUND_QUEUE)
        return "dead-lettered"
    except Exception as exc:
        attempt = delivery.attempt
        if attempt >= MAX_ATTEMPTS:
            await dead_letter(body, delivery, services,
                              f"the booking system did not take event {event['id']} in {attempt} attempts: {exc}",
                              OUTBOUND_QUEUE)
            return "dead-lettered"
        await services.queue.send(OUTBOUND_QUEUE, [OutboundMessage(
            body=body, message_id=queue_id(delivery.origin, str(attempt)), session_id=delivery.session_id,
            application_properties=delivery.copy_properties(**{ATTEMPT_PROPERTY: attempt}),
            scheduled_enqueue_time=services.clock() + backoff(attempt))])
        logger.warning("event %s delivery attempt %d failed (%s); retrying in %s",
                       event["id"], attempt, exc, backoff(attempt))
        return "rescheduled"
    logger.info("event %s delivered to the booking system (attempt %d)", event["id"], delivery.attempt)
    return "delivered"


async def pull(since: str | None, services: Services, limit: int = PULL_LIMIT) -> Reply:
    """``GET /api/reservations?since=<cursor>``: published events in publication order."""
    if since is not None and not _CURSOR.fullmatch(since):
        return problem(400, "Invalid cursor", "since must be a cursor returned as next by this endpoint")
    items, next_cursor = await services.rooms().log.read(since, limit)
    return json_reply(200, {"items": items, "next": next_cursor or since or ""})
