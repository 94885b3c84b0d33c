"""Ingest: validate every planning event of a request, route each to its tenant, then enqueue all of them or none.

With coalescing on (``CONNECTOR_COALESCE_WINDOW_MS``), each event is queued already put off by the window, as
the sync worker's first debounced copy (``COALESCE_PROPERTY`` 1, due a window after acceptance), and its arrival
is told to the process's memory of recent events (``Recent``) once it is on the queue: a burst then costs the
worker one invocation per event instead of two (one to put it off, one when due). A worker in another process,
which never saw the arrival, puts the event off once more itself (``shared.app.planning.sync``), so coalescing
holds across instances too.

Routing (``shared.app.tenants.routing``): an event's tenant owns its CloudEvent ``source``; an event no tenant
takes is refused (400, naming the source), one of a stopped tenant too (409); then nothing of the request is
queued. The message carries its tenant (application property ``tenant``), and the ids of another tenant than the
default are led by the tenant's id (``shared.domain.tenants.keys``): the default tenant's ids stay as they were.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.app.messaging import (
    COALESCE_PROPERTY,
    PLANNING_QUEUE,
    TENANT_PROPERTY,
    MessageQueue,
    OutboundMessage,
    source_tag,
)
from shared.app.ports.clock import Clock
from shared.app.ports.telemetry import NO_TELEMETRY, Telemetry
from shared.app.ports.tenants import TenantLookup
from shared.app.responses import Reply, json_reply, problem
from shared.app.tenants.routing import Refused, route
from shared.config import Settings
from shared.domain.planning.coalesce import Recent
from shared.domain.planning.contract import ContractViolation, check_event
from shared.domain.planning.model import PlanningEvent
from shared.domain.tenants.keys import tenant_queue_id
from shared.domain.tenants.model import Tenant
from shared.domain.timezones import TimeZone
from shared.errors import ConfigurationError, RejectedByQueue, TransientError

__all__ = ["IngestDeps", "MAX_BATCH_EVENTS", "MAX_BODY_BYTES", "TENANT_PROPERTY", "ingest_planning_events"]

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
MAX_BATCH_EVENTS = 500
# Service Bus Standard carries 256 KB per message, headers included.
MAX_EVENT_BYTES = 200 * 1024
SINGLE_TYPES = ("application/cloudevents+json", "application/json")
BATCH_TYPE = "application/cloudevents-batch+json"


@dataclass(frozen=True)
class IngestDeps:
    settings: Settings
    queue: MessageQueue
    telemetry: Telemetry = NO_TELEMETRY
    tenants: TenantLookup | None = None  # None: one tenant, the settings' (no routing)
    recent: Recent | None = None  # the process's memory of recent events, shared with the sync worker
    clock: Clock = lambda: datetime.now(UTC)


async def ingest_planning_events(body: bytes, content_type: str | None, deps: IngestDeps) -> Reply:
    """Check and enqueue the request's events, in the span where each event's trace starts (its message
    carries the span's trace context to the sync worker)."""
    with deps.telemetry.span("accept planning events") as span:
        reply = await _ingest(body, content_type, deps)
        span.set("http.response.status_code", reply.status)
        return reply


async def _ingest(body: bytes, content_type: str | None, deps: IngestDeps) -> Reply:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in (*SINGLE_TYPES, BATCH_TYPE):
        return problem(415, "Unsupported media type",
                       f"send {BATCH_TYPE} for a batch, or application/cloudevents+json for one event")
    if len(body) > MAX_BODY_BYTES:
        return problem(413, "Request too large", f"the body is {len(body)} bytes; at most {MAX_BODY_BYTES} are taken")
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return problem(400, "Malformed JSON", f"the body is not JSON: {exc}")

    if media_type == BATCH_TYPE or (media_type == "application/json" and isinstance(document, list)):
        if not isinstance(document, list):
            return problem(400, "Invalid batch", "a batch is a JSON array of CloudEvents")
        if not document:
            return problem(400, "Invalid batch", "the batch is empty")
        if len(document) > MAX_BATCH_EVENTS:
            return problem(413, "Batch too large", f"the batch has {len(document)} events; at most {MAX_BATCH_EVENTS}")
        raw_events = document
    else:
        raw_events = [document]

    checked, violations = _check_all(raw_events, deps.settings.time_zone)
    if violations:
        return problem(400, "Invalid planning events",
                       f"{len(violations)} error(s); nothing was accepted",
                       errors=[v.as_dict() for v in violations])
    events = [event for event, _ in checked]
    owners: list[Tenant | None] = [None] * len(events)
    if deps.tenants is not None:
        try:
            # A request's events share a few sources: each (source, tenant attribute) is routed once.
            answers: dict[str, Tenant | Refused] = {}
            routed = []
            for raw, event in zip(raw_events, events, strict=True):
                key = json.dumps([event.source, raw.get("tenant")])
                if key not in answers:
                    answers[key] = await route(event.source, raw.get("tenant"), deps.tenants)
                routed.append(answers[key])
        except TransientError:
            logger.warning("tenant registry not readable; the client should retry", exc_info=True)
            return problem(503, "Tenant registry unavailable", "nothing was accepted; retry later")
        refused = [(index, r) for index, r in enumerate(routed) if isinstance(r, Refused)]
        if refused:
            status = 400 if any(r.status == 400 for _, r in refused) else 409
            return problem(status, "Events of no tenant" if status == 400 else "Tenant stopped",
                           f"{refused[0][1].detail}; nothing was accepted",
                           errors=[ContractViolation(i, "$.source", r.detail).as_dict() for i, r in refused])
        owners = [r if isinstance(r, Tenant) else None for r in routed]
    tags: dict[str, str] = {}
    window = timedelta(milliseconds=deps.settings.coalesce_window_ms)
    now = deps.clock()
    due = now + window if window and deps.recent is not None else None
    messages = [_message(event, body, tags, owner, due)
                for (event, body), owner in zip(checked, owners, strict=True)]
    try:
        await deps.queue.send(PLANNING_QUEUE, messages)
    except TransientError:
        logger.warning("planning events not enqueued; the client should retry", exc_info=True)
        return problem(503, "Queue unavailable", "nothing was accepted; retry later")
    except ConfigurationError as exc:
        # The operator's to fix (the queue or its role is missing); the client may retry once it is.
        logger.error("planning events not enqueued: %s", exc)
        return problem(503, "Queue not set up", "nothing was accepted; the connector's queue is misconfigured")
    except RejectedByQueue as exc:
        logger.warning("planning events refused by the queue (%s): %s", exc.limit, exc)
        return problem(413 if "size" in exc.limit else 400, "Refused by the queue",
                       f"nothing was accepted: {exc}")
    if due is not None and deps.recent is not None:
        for event in events:  # only once its message is on the queue may an event supersede older ones
            deps.recent.arrived(event.key, event.version, now)
    for (tenant, source), count in Counter((owner.id if owner else None, event.source)
                                           for event, owner in zip(events, owners, strict=True)).items():
        with deps.telemetry.for_tenant(tenant):
            deps.telemetry.events_accepted(source, count)
    logger.info("accepted %d planning event(s)", len(events),
                extra={"accepted": len(events), "planning_ids": [event.id for event in events][:20]})
    return json_reply(202, {"accepted": [event.id for event in events]})


def _check_all(raw_events: list[Any],
               zone: TimeZone) -> tuple[list[tuple[PlanningEvent, bytes]], list[ContractViolation]]:
    """Each valid event with its message body (encoded once: its size is checked on the bytes that are sent)."""
    events: list[tuple[PlanningEvent, bytes]] = []
    violations: list[ContractViolation] = []
    first_index: dict[tuple[str, str], int] = {}  # CloudEvents: source + id identify an event
    for index, raw in enumerate(raw_events):
        checked = check_event(raw, index, zone)
        if isinstance(checked, list):
            violations.extend(checked)
            continue
        if (checked.source, checked.id) in first_index:
            violations.append(ContractViolation(
                index, "$.id", f"repeats the id of the event at index {first_index[checked.source, checked.id]}"))
            continue
        body = json.dumps(raw, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        if len(body) > MAX_EVENT_BYTES:
            violations.append(ContractViolation(index, "$", f"the event is larger than {MAX_EVENT_BYTES} bytes"))
            continue
        first_index[checked.source, checked.id] = index
        events.append((checked, body))
    return events, violations


def _message(event: PlanningEvent, body: bytes, tags: dict[str, str], tenant: Tenant | None,
             due: datetime | None) -> OutboundMessage:
    # The entity key is (source, subject): two planning systems may use the same event id or subject,
    # so both ids carry the source, or duplicate detection would drop the second system's event; and
    # another tenant's ids are led by the tenant.
    tag = tags.get(event.source)
    if tag is None:
        tag = tags[event.source] = source_tag(event.source)  # once per source of the request, not per event
    scope = tenant.scope if tenant is not None else None
    properties: dict[str, str | int] = {"type": event.type, "source": event.source, "subject": event.subject}
    if tenant is not None:
        properties[TENANT_PROPERTY] = tenant.id
    if due is not None:
        properties[COALESCE_PROPERTY] = 1  # put off once already: the worker decides when it is due
    return OutboundMessage(
        body=body,
        message_id=tenant_queue_id(scope, event.id, tag),
        session_id=tenant_queue_id(scope, event.subject, tag),
        application_properties=properties,
        scheduled_enqueue_time=due,
    )
