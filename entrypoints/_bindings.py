"""Decoding and encoding shared by the triggers: ``ServiceBusMessage`` → ``Delivery``, ``Reply`` → ``HttpResponse``,
an Event Grid event → its type and data."""

from __future__ import annotations

import logging
from datetime import UTC
from typing import Any

import azure.functions as func

from shared.app.messaging import Delivery
from shared.app.responses import Reply

__all__ = ["delivery", "event_type_and_data", "note_past_due", "to_http_response"]


def to_http_response(reply: Reply) -> func.HttpResponse:
    return func.HttpResponse(reply.body, status_code=reply.status, mimetype=reply.content_type,
                             headers=reply.headers or None)


def delivery(msg: func.ServiceBusMessage) -> Delivery:
    enqueued = msg.enqueued_time_utc
    return Delivery(message_id=msg.message_id, delivery_count=msg.delivery_count or 1, session_id=msg.session_id,
                    application_properties=msg.application_properties or {},
                    enqueued_at=enqueued.replace(tzinfo=UTC) if enqueued and enqueued.tzinfo is None else enqueued)


def note_past_due(timer: func.TimerRequest, what: str, logger: logging.Logger) -> None:
    if timer.past_due:
        logger.info("%s timer is past due", what)


def event_type_and_data(event: func.CloudEvent | func.EventGridEvent) -> tuple[str | None, Any]:
    """The worker passes a ``CloudEvent`` for a CloudEvents body (Graph's partner topic) and an ``EventGridEvent``
    for the Event Grid schema; both carry the type and the JSON data."""
    if isinstance(event, func.CloudEvent):
        return event.type, event.get_json()
    return event.event_type, event.get_json()
