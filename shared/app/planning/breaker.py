"""The mass-deletion breaker, as the sync worker meets it: admit a delete, or hold its message.

Only a plan that removes an entity from every calendar consults it (see ``shared.domain.planning.breaker``);
every other change of the source goes on and costs nothing here. Each delete reads the source's breaker row
and adds one to two windowed counters (its source's, its mailbox's). When a limit is passed the breaker trips
(one error line) and this delete, like every later one of the source, is parked as a ``HeldMessage`` and its
queue message completed: held for as long as it takes, across restarts, until an operator releases (the held
messages go back to their entity sessions, where version fencing drops those a later event overtook) or
discards them (``shared.app.operator.breakers``).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from shared.app.messaging import TENANT_PROPERTY, Delivery, tenant_of
from shared.app.ports.breakers import BreakerState, BreakerStore, HeldMessage
from shared.app.ports.clock import Clock
from shared.app.ports.planning import MappingStore
from shared.app.ports.telemetry import NO_TELEMETRY, Telemetry
from shared.domain.planning.breaker import BreakerLimits, bucket_of, might_trip_by_share, trip_reason
from shared.domain.planning.model import EntityKey

__all__ = ["RELEASED_PROPERTY", "BreakerDeps", "admit_delete", "tripped_sources"]

logger = logging.getLogger(__name__)

# Application property of a held message an operator released: it passes the breaker (the decision is made).
RELEASED_PROPERTY = "connector-breaker-released"


@dataclass(frozen=True)
class BreakerDeps:
    store: BreakerStore
    mappings: MappingStore  # counts the source's live entities (its tenant's) for the "most of what it had" rule
    limits: BreakerLimits
    clock: Clock
    telemetry: Telemetry = NO_TELEMETRY


def held_id(delivery: Delivery) -> str:
    """Stable per queue message and its copies (redeliveries, reschedules): holding it again keeps one row."""
    return hashlib.sha256(delivery.origin.encode("utf-8")).hexdigest()[:32]


async def admit_delete(key: EntityKey, mailbox: str, body: bytes, delivery: Delivery, deps: BreakerDeps) -> bool:
    """True: the delete may go on. False: its message is held (the caller completes it)."""
    if delivery.application_properties.get(RELEASED_PROPERTY):
        return True
    store, limits, now = deps.store, deps.limits, deps.clock()
    state = await store.get(key.source) or BreakerState(key.source)
    if not state.tripped:
        counts = await store.count_delete(key.source, mailbox, delete_id=held_id(delivery), epoch=state.epoch,
                                          bucket=bucket_of(now), window=max(limits.window_minutes, 1))
        had = None
        if might_trip_by_share(counts, limits):
            # Live now (this entity included) plus the window's earlier deletes: what the source had.
            had = await deps.mappings.count_live(key.partition) + counts.source - 1
        reason = trip_reason(counts, mailbox, limits, had)
        if reason is None:
            return True
        state = await store.trip(BreakerState(key.source, tripped=True, since=now, reason=reason,
                                              deletes=counts.source, epoch=state.epoch))
        logger.error("mass-deletion breaker tripped for source %s: %s; its deletes are held until an operator "
                     "releases or discards them (GET /api/manage/breakers)", key.source, state.reason)
    held = HeldMessage(source=key.source, id=held_id(delivery), message_id=delivery.message_id,
                       session_id=delivery.session_id, subject=key.subject, mailbox=mailbox,
                       body=body.decode("utf-8"), held_at=now,
                       # A release queues it again in its tenant (``acting_tenant`` reads the property).
                       application_properties={TENANT_PROPERTY: tenant} if (tenant := tenant_of(delivery)) else {})
    await store.hold(held)
    after = await store.get(key.source)
    # This instance tells connector.breakers.tripped what it found (a breaker tripped here or elsewhere), under
    # the message's tenant.
    with deps.telemetry.for_tenant(tenant_of(delivery)):
        deps.telemetry.breaker_tripped(key.source, after is not None and after.tripped)
    if after is None or not after.tripped:
        # An operator decided while this one was being held, and may have missed it: it goes on instead.
        await store.unhold(key.source, held.id)
        return True
    logger.warning("delete of %s (message %s) held: the mass-deletion breaker of source %s is tripped",
                   key.subject, delivery.message_id, key.source)
    return False


async def tripped_sources(store: BreakerStore) -> list[str]:
    """The sources whose deletes are held now (the ``connector.breakers.tripped`` gauge reads this)."""
    return [state.source for state in await store.list() if state.tripped]
