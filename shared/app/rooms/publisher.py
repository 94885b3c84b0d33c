"""Publishing to the booking system: the event log (pull API) and the outbound webhook, in order per stream.

Every published CloudEvent is appended to the log first (the pull API serves it from there, in global
publication order). When ``CONNECTOR_OUTBOUND_WEBHOOK_URL`` is set, it is also appended to the outbox of
its stream (the room; all user events form one stream), and a small message naming the stream is queued
on ``outbound-events`` (session = the stream). The delivery worker drains a stream's outbox oldest
first: a failed delivery keeps the event at the head and blocks the later ones of that stream, retried
with exponential backoff (a scheduled message wakes the stream), until it is delivered or, refused for
good or after ``WEBHOOK_MAX_ATTEMPTS``, dead-lettered with the reason; then the rest go on. ``webhook-id`` is the
CloudEvent id on every attempt, so receivers deduplicate.

Each tenant has its own log and streams (``rooms.tenant_streams``): another tenant's wake messages name it, their
session is led by its id, and the pull API reads a tenant's log with ``?tenant=``.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from shared.app.messaging import (
    OUTBOUND_QUEUE,
    TENANT_PROPERTY,
    WEBHOOK_MAX_ATTEMPTS,
    Delivery,
    MessageQueue,
    OutboundMessage,
    Settlement,
    queue_id,
    webhook_backoff,
)
from shared.app.ports.clock import Clock
from shared.app.ports.rooms import EventLog, Outbox, OutboxItem, WebhookSender
from shared.app.ports.tenants import TenantLookup
from shared.app.responses import Reply, json_reply, problem
from shared.app.rooms.tenant_streams import feed_of, publishing_in
from shared.config import Settings
from shared.domain.tenants.keys import tenant_queue_id
from shared.domain.tenants.model import TenantId, TenantProblem, parse_tenant_id
from shared.errors import PermanentError

__all__ = ["PublisherDeps", "deliver", "publish", "pull", "pull_of", "stream_of"]

logger = logging.getLogger(__name__)

PULL_LIMIT = 200
DRAIN_LIMIT = 25  # events delivered per invocation; a stream with more continues in a new message
USERS_STREAM = "users"
# The log's row keys: ASCII decimal digits ("²".isdigit() is true, yet no row key has it).
_CURSOR = re.compile(r"[0-9]{1,20}", re.ASCII)


@dataclass(frozen=True)
class PublisherDeps:
    settings: Settings
    log: EventLog
    outbox: Outbox
    webhook: WebhookSender | None  # None: no booking-system webhook configured
    queue: MessageQueue
    settle: Settlement
    clock: Clock
    tenant: TenantId | None = None  # whose log and streams (None: the default tenant's)
    tenants: TenantLookup | None = None  # the registry, for a reader's ``?tenant=`` (None: one tenant)


def stream_of(event: dict[str, Any]) -> str:
    """The stream whose order the webhook keeps: the room of a reservation, else one stream per type family."""
    data = event.get("data")
    room = data.get("room") if isinstance(data, dict) else None
    if isinstance(room, str) and room:
        return room.lower()
    return USERS_STREAM if str(event.get("type", "")).startswith("user.") else str(event.get("subject", ""))


async def publish(events: list[dict[str, Any]], deps: PublisherDeps) -> None:
    if not events:
        return
    await deps.log.append(events)
    if deps.settings.rooms.outbound_webhook_url:
        streams: dict[str, list[dict[str, Any]]] = {}
        for event in events:
            streams.setdefault(stream_of(event), []).append(event)
        for stream, batch in streams.items():
            first = await deps.outbox.add(stream, batch)
            await _wake(stream, deps, first)
    for event in events:
        logger.info("published %s %s (id %s)", event["type"], event["subject"], event["id"])


async def _wake(stream: str, deps: PublisherDeps, *id_parts: str, at: datetime | None = None) -> None:
    """Queue a message that makes the worker drain ``stream`` (now, or at ``at``); another tenant's names it."""
    tenant = deps.tenant
    body = {"stream": stream, **({"tenant": tenant} if tenant else {})}
    await deps.queue.send(OUTBOUND_QUEUE, [OutboundMessage(
        body=json.dumps(body).encode("utf-8"), message_id=tenant_queue_id(tenant, stream, *id_parts),
        session_id=tenant_queue_id(tenant, stream), content_type="application/json", scheduled_enqueue_time=at,
        application_properties={TENANT_PROPERTY: tenant} if tenant else {})])


async def deliver(body: bytes, delivery: Delivery, deps: PublisherDeps) -> str:
    """Settle one ``outbound-events`` message: drain a stream, or post one CloudEvent (a replayed dead letter)."""
    with deps.settle.consuming(OUTBOUND_QUEUE, delivery) as span:
        outcome = await _deliver(body, delivery, deps)
        span.set("connector.outcome", outcome)
        return outcome


async def _deliver(body: bytes, delivery: Delivery, deps: PublisherDeps) -> str:
    try:
        message = json.loads(body)
    except ValueError:
        message = None
    if isinstance(message, dict) and isinstance(message.get("stream"), str) and "id" not in message:
        try:
            tenant = parse_tenant_id(message["tenant"]) if message.get("tenant") else None
        except TenantProblem:
            await deps.settle.dead_letter(OUTBOUND_QUEUE, body, delivery, "the stream's tenant is malformed")
            return "dead-lettered"
        return await _drain(message["stream"], publishing_in(deps, tenant))
    if not (isinstance(message, dict) and "id" in message and "subject" in message):
        await deps.settle.dead_letter(OUTBOUND_QUEUE, body, delivery, "not a CloudEvent")
        return "dead-lettered"
    return await _deliver_one(message, body, delivery, deps)


async def _drain(stream: str, deps: PublisherDeps) -> str:
    sender = deps.webhook
    if sender is None:
        logger.warning("stream %s not delivered: CONNECTOR_OUTBOUND_WEBHOOK_URL is not set", stream)
        return "no webhook"
    outcome = "nothing to deliver"
    for _ in range(DRAIN_LIMIT):
        item = await deps.outbox.head(stream)
        if item is None:
            return outcome
        now = deps.clock()
        if item.not_before is not None and item.not_before > now:
            # The head is waiting for its retry: the later events of the stream wait behind it.
            await _wake(stream, deps, item.key, f"retry{item.attempts}", at=item.not_before)
            return "waiting"
        outcome = await _attempt(item, sender, deps)
        if outcome == "rescheduled":
            return outcome
    following = await deps.outbox.head(stream)
    if following is not None:  # more than one invocation's share: continue in a fresh message
        await _wake(stream, deps, following.key, "more")
    return outcome


async def _attempt(item: OutboxItem, sender: WebhookSender, deps: PublisherDeps) -> str:
    outbox = deps.outbox
    event_id = item.event["id"]
    try:
        with deps.settle.telemetry.span("deliver to the booking system", {"cloudevents.event_id": str(event_id)}):
            await sender.send(item.event)
    except PermanentError as exc:
        await _give_up(item, f"the booking system refused event {event_id}: {exc}", deps)
        return "dead-lettered"
    except Exception as exc:
        attempts = item.attempts + 1
        if attempts >= WEBHOOK_MAX_ATTEMPTS:
            await _give_up(item, f"the booking system did not take event {event_id} in {attempts} attempts: {exc}",
                           deps)
            return "dead-lettered"
        retry_at = deps.clock() + webhook_backoff(attempts)
        await outbox.save(replace(item, attempts=attempts, not_before=retry_at))
        await _wake(item.stream, deps, item.key, f"retry{attempts}", at=retry_at)
        logger.warning("event %s delivery attempt %d failed (%s); retrying in %s, later events of %s wait",
                       event_id, attempts, exc, webhook_backoff(attempts), item.stream)
        return "rescheduled"
    await outbox.remove(item)
    logger.info("event %s delivered to the booking system (attempt %d)", event_id, item.attempts + 1)
    return "delivered"


async def _give_up(item: OutboxItem, reason: str, deps: PublisherDeps) -> None:
    """Dead-letter the head (a replay posts it on its own) and let the rest of the stream go on."""
    body = json.dumps(item.event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    delivery = Delivery(queue_id(item.event["id"]), item.attempts + 1, tenant_queue_id(deps.tenant, item.stream),
                        {TENANT_PROPERTY: deps.tenant} if deps.tenant else {})
    await deps.settle.dead_letter(OUTBOUND_QUEUE, body, delivery, reason)
    await deps.outbox.remove(item)


async def _deliver_one(event: dict[str, Any], body: bytes, delivery: Delivery, deps: PublisherDeps) -> str:
    """A single CloudEvent (a replayed dead letter): posted on its own, retried with backoff."""
    sender = deps.webhook
    if sender is None:
        logger.warning("event %s not delivered: CONNECTOR_OUTBOUND_WEBHOOK_URL is not set", event["id"])
        return "no webhook"
    try:
        with deps.settle.telemetry.span("deliver to the booking system", {"cloudevents.event_id": str(event["id"])}):
            await sender.send(event)
    except PermanentError as exc:
        await deps.settle.dead_letter(OUTBOUND_QUEUE, body, delivery,
                                      f"the booking system refused event {event['id']}: {exc}")
        return "dead-lettered"
    except Exception as exc:
        attempt = delivery.attempt
        if attempt >= WEBHOOK_MAX_ATTEMPTS:
            await deps.settle.dead_letter(
                OUTBOUND_QUEUE, body, delivery,
                f"the booking system did not take event {event['id']} in {attempt} attempts: {exc}")
            return "dead-lettered"
        await deps.settle.reschedule(OUTBOUND_QUEUE, body, delivery, webhook_backoff(attempt))
        logger.warning("event %s delivery attempt %d failed (%s); retrying in %s",
                       event["id"], attempt, exc, webhook_backoff(attempt))
        return "rescheduled"
    logger.info("event %s delivered to the booking system (attempt %d)", event["id"], delivery.attempt)
    return "delivered"


async def pull(since: str | None, deps: PublisherDeps, limit: int = PULL_LIMIT) -> Reply:
    """``GET /api/reservations?since=<cursor>``: published events in publication order."""
    if since is not None and not _CURSOR.fullmatch(since):
        return problem(400, "Invalid cursor", "since must be a cursor returned as next by this endpoint")
    items, next_cursor = await deps.log.read(since, limit)
    return json_reply(200, {"items": items, "next": next_cursor or since or ""})


async def pull_of(tenant: str | None, since: str | None, deps: PublisherDeps) -> Reply:
    """``GET /api/reservations?tenant=&since=``: the log of the tenant named (the default tenant's when none is);
    400 for a malformed tenant id, 404 for one not registered."""
    scoped = await feed_of(tenant, deps)
    return scoped if isinstance(scoped, Reply) else await pull(since, scoped)
