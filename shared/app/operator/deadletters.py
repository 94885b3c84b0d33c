"""Operator API: per-resource opt-out and the dead-letter list with replay."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime

from shared.app.messaging import (
    PLANNING_QUEUE,
    REPLAY_PROPERTY,
    TENANT_PROPERTY,
    MessageQueue,
    OutboundMessage,
    queue_id,
)
from shared.app.ports.planning import DeadLetterStore, ResourceStore
from shared.app.responses import Reply, json_reply, problem

__all__ = ["OperatorDeps", "discard_dead_letter", "get_resource", "list_dead_letters", "list_resources",
           "mailbox_address", "put_resource", "replay_dead_letter"]

logger = logging.getLogger(__name__)
_EMAIL = re.compile(r"^[^@\s/]+@[^@\s/]+\.[^@\s/]+$")
_RECORD_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class OperatorDeps:
    resources: ResourceStore
    deadletters: DeadLetterStore
    queue: MessageQueue  # where a replayed dead letter goes
    default_tenant: str | None = None  # the settings' tenant: the tenant of records that name none


def mailbox_address(text: str) -> str | None:
    """The mailbox an operator named, normalised; None when it is not an email address."""
    mailbox = text.strip().lower()
    return mailbox if _EMAIL.match(mailbox) else None


def _resource_json(mailbox: str, active: bool, updated_at: datetime | None = None) -> dict[str, object]:
    return {"email": mailbox, "active": active, "updatedAt": updated_at.isoformat() if updated_at else None}


async def list_resources(deps: OperatorDeps) -> Reply:
    settings = await deps.resources.list()
    return json_reply(200, {"value": [_resource_json(s.mailbox, s.active, s.updated_at) for s in settings]})


async def get_resource(email: str, deps: OperatorDeps) -> Reply:
    mailbox = mailbox_address(email)
    if mailbox is None:
        return problem(400, "Invalid resource", "the path must end with the resource's email address")
    return json_reply(200, _resource_json(mailbox, await deps.resources.is_active(mailbox)))


async def put_resource(email: str, body: bytes, deps: OperatorDeps) -> Reply:
    """Set the seed's ``calendar.msgraph.active`` preference for one resource."""
    mailbox = mailbox_address(email)
    if mailbox is None:
        return problem(400, "Invalid resource", "the path must end with the resource's email address")
    try:
        document = json.loads(body or b"null")
    except ValueError as exc:
        return problem(400, "Malformed JSON", f"the body is not JSON: {exc}")
    if not isinstance(document, dict) or not isinstance(document.get("active"), bool):
        return problem(400, "Invalid resource setting", 'send {"active": true} or {"active": false}',
                       errors=[{"path": "$.active", "message": "is required and must be a boolean"}])
    setting = await deps.resources.set_active(mailbox, document["active"])
    logger.info("resource %s set to active=%s", mailbox, setting.active)
    return json_reply(200, _resource_json(setting.mailbox, setting.active, setting.updated_at))


_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


async def list_dead_letters(deps: OperatorDeps, tenant: str | None = None) -> Reply:
    """Every dead letter, or (``tenant``) the tenant's only."""
    if tenant is not None and not _GUID.fullmatch(tenant.strip()):
        return problem(400, "Invalid tenant", "the query parameter tenant must be a tenant's directory id (a GUID)")
    records = await deps.deadletters.list()
    if tenant:
        wanted = tenant.strip().lower()
        records = [r for r in records if (r.tenant or (deps.default_tenant or "").lower()) == wanted]
    return json_reply(200, {"value": [r.as_dict() for r in records]})


async def replay_dead_letter(record_id: str, deps: OperatorDeps) -> Reply:
    record = await deps.deadletters.get(record_id) if _RECORD_ID.match(record_id) else None
    if record is None:
        return problem(404, "Not found", f"no dead letter {record_id}")
    # A new message id (duplicate detection would drop the original one), deterministic per dead letter,
    # so a replay request that is repeated after a lost answer queues it once.
    message = OutboundMessage(
        body=record.body.encode("utf-8"),
        message_id=queue_id(record.message_id, f"replay-{record.id[:12]}"),
        session_id=record.session_id,
        # An operator waits for a replay: applied at once, never put off; it stays in its tenant.
        application_properties={REPLAY_PROPERTY: 1, **({TENANT_PROPERTY: record.tenant} if record.tenant else {})},
    )
    await deps.queue.send(record.queue or PLANNING_QUEUE, [message])
    await deps.deadletters.remove(record_id)
    logger.info("dead letter %s (message %s) replayed as %s", record_id, record.message_id, message.message_id)
    return json_reply(202, {"replayed": record_id, "messageId": message.message_id})


async def discard_dead_letter(record_id: str, deps: OperatorDeps) -> Reply:
    if not _RECORD_ID.match(record_id) or await deps.deadletters.get(record_id) is None:
        return problem(404, "Not found", f"no dead letter {record_id}")
    await deps.deadletters.remove(record_id)
    return Reply(204)
