"""Operator API of the mass-deletion breaker: list the breakers, release or discard a source's held deletes.

Release closes the breaker first (new deletes count afresh), then queues each held message again into its
entity's session, marked as released so it passes the breaker, and forgets it once queued: an event that
overtook it (the task planned again) wins by version, so a stale delete writes nothing. Discard closes the
breaker and forgets the held deletes: their mappings stay as they were, so the calendars keep those events
(a later event of the entity updates or deletes them as usual).

Each route acts in the tenant ``?tenant=`` names (the default tenant when absent; 400 malformed, 404 unknown):
its breakers are a view of the store of every tenant's (``ScopedBreakers``), and a released delete goes back in
its tenant (the held message keeps the message's tenant property).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from urllib.parse import unquote

from shared.app.messaging import PLANNING_QUEUE, MessageQueue, OutboundMessage, queue_id
from shared.app.operator.tenant_scope import operator_tenant
from shared.app.planning.breaker import RELEASED_PROPERTY
from shared.app.planning.tenancy import ScopedBreakers
from shared.app.ports.breakers import BreakerState, BreakerStore
from shared.app.ports.clock import Clock
from shared.app.ports.telemetry import NO_TELEMETRY, Telemetry
from shared.app.ports.tenants import TenantLookup
from shared.app.responses import Reply, json_reply, problem
from shared.domain.tenants.model import TenantId

__all__ = ["BreakerOperatorDeps", "breakers_of", "decide_breaker", "list_breakers"]

logger = logging.getLogger(__name__)
_BATCH = 100  # messages per send: well under a Service Bus batch's size for planning events


@dataclass(frozen=True)
class BreakerOperatorDeps:
    store: BreakerStore
    queue: MessageQueue  # where released deletes go
    clock: Clock
    telemetry: Telemetry = NO_TELEMETRY
    default_tenant: str | None = None  # the settings' tenant
    tenants: TenantLookup | None = None  # None: one tenant, the settings'
    tenant: TenantId | None = None  # whose breakers ``store`` holds (None: the default tenant's)


async def breakers_of(tenant: str | None, deps: BreakerOperatorDeps) -> BreakerOperatorDeps | Reply:
    """``deps`` for the tenant an operator's ``?tenant=`` names (always a view: the default tenant's lists only
    its own breakers); or the answer: 400 malformed, 404 unknown."""
    scope = await operator_tenant(tenant, deps.default_tenant, deps.tenants)
    if isinstance(scope, Reply):
        return scope
    return replace(deps, store=ScopedBreakers(deps.store, scope), tenant=scope)


def _state_json(state: BreakerState, held: int) -> dict[str, object]:
    return {
        "source": state.source,
        "state": "tripped" if state.tripped else "closed",
        "since": state.since.isoformat() if state.tripped and state.since else None,
        "reason": state.reason if state.tripped else None,
        "deletes": state.deletes,
        "held": held,
        "lastDecision": state.decision or None,
        "decidedAt": state.decided_at.isoformat() if state.decided_at else None,
    }


async def list_breakers(deps: BreakerOperatorDeps, tenant: str | None = None) -> Reply:
    scoped = await breakers_of(tenant, deps)
    if isinstance(scoped, Reply):
        return scoped
    deps = scoped
    states = await deps.store.list()
    return json_reply(200, {"value": [_state_json(s, await deps.store.count_held(s.source)) for s in states]})


_MAX_SOURCE = 700  # base64url of the source is a Table key (at most 1 KiB)


def source_of(segment: str) -> str | None:
    """The source an operator named in one path segment: percent-encoded (``https:%2F%2Fplanning...``), as the
    host keeps an encoded slash in its segment. None when it cannot be a source (a URI reference has no
    whitespace or control characters)."""
    source = unquote(segment)
    if not source or len(source) > _MAX_SOURCE or any(c.isspace() or not c.isprintable() for c in source):
        return None
    return source


async def decide_breaker(segment: str, decision: str, deps: BreakerOperatorDeps, tenant: str | None = None) -> Reply:
    """``decision``: "release" or "discard"."""
    scoped = await breakers_of(tenant, deps)
    if isinstance(scoped, Reply):
        return scoped
    deps = scoped
    source = source_of(segment)
    store = deps.store
    if source is None or (await store.get(source) is None and not await store.count_held(source)):
        return problem(404, "Not found", f"no breaker for source {source or segment!r}")
    state = await store.reset(source, decision="released" if decision == "release" else "discarded",
                              at=deps.clock())
    with deps.telemetry.for_tenant(deps.tenant):
        deps.telemetry.breaker_tripped(source, False)
    held = await store.held(source)
    if decision == "release":
        for start in range(0, len(held), _BATCH):
            batch = held[start:start + _BATCH]
            await deps.queue.send(PLANNING_QUEUE, [OutboundMessage(
                body=m.body.encode("utf-8"),
                # Deterministic, so a release repeated after a lost answer queues each message once.
                message_id=queue_id(m.message_id, f"released-{m.id[:12]}"),
                session_id=m.session_id,
                application_properties={**m.application_properties, RELEASED_PROPERTY: 1},
            ) for m in batch])
            for m in batch:
                await store.unhold(source, m.id)
    else:
        for m in held:
            await store.unhold(source, m.id)
    verb = "released" if decision == "release" else "discarded"
    logger.warning("mass-deletion breaker of source %s %s by an operator: %d held delete(s) %s", source,
                   state.decision, len(held), "queued again" if decision == "release" else "dropped")
    return json_reply(200, {**_state_json(state, 0), verb: len(held)})
