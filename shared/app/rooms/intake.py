"""Graph's notifications arriving: the webhooks ``POST /api/graph/notifications`` and ``/api/graph/lifecycle``,
and the Event Grid trigger (CloudEvents from the partner topic, CONNECTOR_GRAPH_NOTIFICATION_DELIVERY=eventGrid).

On either path: no Graph call and no table read. The webhook's validation handshake echoes the decoded
token as text/plain (Event Grid has none for Graph). Notifications are authenticated by their clientState
(an HMAC under our key, see ``client_state``), the rest are queued on ``graph-notifications`` with
session = room mailbox. The webhook answers 202, or 503 when the queue fails so Graph redelivers; the
Event Grid trigger raises instead, so the host answers 500 and Event Grid redelivers.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from shared.app.messaging import GRAPH_QUEUE, MessageQueue
from shared.app.ports.telemetry import NO_TELEMETRY, Telemetry
from shared.app.responses import Reply, json_reply, problem
from shared.app.rooms.subscriptions import work_message
from shared.config import Settings
from shared.domain.rooms.cloud_events import notification_item
from shared.domain.rooms.notifications import Intake, parse_collection, parse_items
from shared.errors import TransientError

__all__ = ["IntakeDeps", "receive_cloud_event", "receive_notifications"]

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class IntakeDeps:
    settings: Settings
    queue: MessageQueue
    dropped: Counter[str]  # notifications dropped by this instance since it started, by reason
    telemetry: Telemetry = NO_TELEMETRY


async def receive_notifications(body: bytes, validation_token: str | None, deps: IntakeDeps, *,
                                lifecycle: bool) -> Reply:
    """Answer Graph, in the span where each queued notification's trace starts."""
    with deps.telemetry.span("receive graph lifecycle notifications" if lifecycle
                             else "receive graph notifications") as span:
        reply = await _receive(body, validation_token, deps, lifecycle=lifecycle)
        span.set("http.response.status_code", reply.status)
        return reply


async def _receive(body: bytes, validation_token: str | None, deps: IntakeDeps, *, lifecycle: bool) -> Reply:
    if validation_token is not None:
        # Graph's handshake: 200 text/plain with the (already URL-decoded) token, within 10 s.
        return Reply(200, validation_token.encode("utf-8"), "text/plain; charset=utf-8")
    if len(body) > MAX_BODY_BYTES:
        return problem(413, "Request too large", "a notification collection is far smaller")
    keys = deps.settings.rooms.client_state_keys
    intake = parse_collection(body, keys, lifecycle=lifecycle)
    if intake is None:
        return problem(400, "Not a notification collection", 'expected {"value": [...]}')
    try:
        await _admit(intake, deps, "lifecycle" if lifecycle else "change")
    except TransientError:
        logger.warning("notifications not queued; Graph will redeliver", exc_info=True)
        return problem(503, "Queue unavailable", "not queued; retry")
    return json_reply(202, {"accepted": len(intake.accepted)})


async def receive_cloud_event(event_type: str | None, data: object, deps: IntakeDeps) -> int:
    """One CloudEvent Graph published to the partner topic; how many work items it queued (0 or 1).

    Raises ``TransientError`` when the queue fails: the invocation fails and Event Grid redelivers.
    """
    item = notification_item(event_type, data)
    intake = parse_items([item] if item is not None else [None], deps.settings.rooms.client_state_keys,
                         lifecycle=False)
    await _admit(intake, deps, f"Event Grid ({event_type or 'no type'})")
    return len(intake.accepted)


async def _admit(intake: Intake, deps: IntakeDeps, what: str) -> None:
    """Count and log what was dropped; queue what was accepted (``TransientError`` when it cannot be)."""
    keys = deps.settings.rooms.client_state_keys
    if intake.forged:
        deps.dropped["clientState mismatch or unknown subscription"] += intake.forged
        logger.warning("dropped %d %s notification(s): clientState not ours (forged or unknown subscription)%s",
                       intake.forged, what, "" if keys else "; CONNECTOR_CLIENT_STATE_KEY is not set")
    if intake.malformed:
        deps.dropped["malformed"] += intake.malformed
        logger.warning("dropped %d malformed %s notification item(s)", intake.malformed, what)
    if intake.accepted:
        await deps.queue.send(GRAPH_QUEUE, [work_message(work) for work in intake.accepted])
