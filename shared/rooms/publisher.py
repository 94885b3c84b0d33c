"""Publishing to the booking system: the event log (pull API) and the outbound webhook queue.

Every published CloudEvent is appended to the log first (the pull API serves it from there), then,
when ``CONNECTOR_OUTBOUND_WEBHOOK_URL`` is set, queued on ``outbound-events`` (message id = the
CloudEvent id, so duplicate detection drops a republication). The delivery worker posts it signed
per Standard Webhooks; a failed delivery is put back on the queue as a scheduled message with
exponential backoff (the queue waits, not the function) and dead-lettered with the reason after
``MAX_ATTEMPTS``. ``webhook-id`` is the CloudEvent id on every attempt, so receivers deduplicate.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta
from typing import Any

from shared.app.responses import Reply, json_reply, problem
from shared.app.sync import ATTEMPT_PROPERTY, Delivery, dead_letter
from shared.bootstrap import Services
from shared.errors import PermanentError
from shared.queueing import OutboundMessage
from shared.rooms.services import OUTBOUND_QUEUE

__all__ = ["MAX_ATTEMPTS", "backoff", "deliver", "publish", "pull"]

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 16
PULL_LIMIT = 200
# The log's row keys: ASCII decimal digits ("²".isdigit() is true, yet no row key has it).
_CURSOR = re.compile(r"[0-9]{1,20}", re.ASCII)


def backoff(attempt: int) -> timedelta:
    """2 s, 4 s, 8 s ... capped at one hour: with MAX_ATTEMPTS about 5 hours before the dead-letter list."""
    return timedelta(seconds=min(2 ** attempt, 3600))


async def publish(events: list[dict[str, Any]], services: Services) -> None:
    if not events:
        return
    ports = services.rooms()
    await ports.log.append(events)
    if services.settings.rooms.outbound_webhook_url:
        await services.queue.send(OUTBOUND_QUEUE, [_message(e) for e in events])
    for event in events:
        logger.info("published %s %s (id %s)", event["type"], event["subject"], event["id"])


def _message(event: dict[str, Any], attempt: int = 0, services: Services | None = None) -> OutboundMessage:
    return OutboundMessage(
        body=json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
        message_id=event["id"] if attempt == 0 else f"{event['id']}~{attempt}",
        session_id=event["subject"],
        application_properties={"type": event["type"], ATTEMPT_PROPERTY: attempt} if attempt else
        {"type": event["type"]},
        scheduled_enqueue_time=(services.clock() + backoff(attempt)) if services and attempt else None,
    )


async def deliver(body: bytes, delivery: Delivery, services: Services) -> str:
    """Post one queued CloudEvent to the booking system; reschedule or dead-letter when it fails."""
    try:
        event = json.loads(body)
    except ValueError:
        event = None
    if not (isinstance(event, dict) and "id" in event and "subject" in event):
        await dead_letter(body, delivery, services, "not a CloudEvent", OUTBOUND_QUEUE)
        return "dead-lettered"
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
        await services.queue.send(OUTBOUND_QUEUE, [_message(event, attempt, services)])
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
