"""The gauges the alerts read and no event sets: dead letters open, each queue's oldest message, and the
mass-deletion breakers' states, told again on a timer (``refresh_gauges``: the subscription-renewal timer)
and by each status computation (``tell_*``: from what it has read anyway).

A gauge reports the last value told in this process, each export, so a value told once must be told again:
a breaker released on another instance, a dead letter replayed, a queue drained. Each read that fails is
logged and skipped; refreshing never fails its caller.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from shared.app.operator.findings import short
from shared.app.ports.breakers import BreakerState, BreakerStore
from shared.app.ports.operator import HealthProbes, QueueStats
from shared.app.ports.planning import DeadLetterStore
from shared.app.ports.telemetry import Telemetry
from shared.domain.tenants.keys import tenant_of_key

__all__ = ["GaugeDeps", "refresh_gauges", "tell_breakers", "tell_queues"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class GaugeDeps:
    deadletters: DeadLetterStore
    health: HealthProbes  # the queues' depths
    breakers: BreakerStore
    telemetry: Telemetry


def tell_queues(stats: Sequence[QueueStats], telemetry: Telemetry) -> None:
    """``connector.queue.oldest_age_seconds`` of each queue that says it; an empty queue's is 0. A queue with
    messages but no age (Service Bus) is left as it was: unknown is not young."""
    for s in stats:
        if s.oldest_age_seconds is not None:
            telemetry.queue_oldest_age(s.queue, s.oldest_age_seconds)
        elif s.active == 0:
            telemetry.queue_oldest_age(s.queue, 0.0)


def tell_breakers(states: Iterable[BreakerState], telemetry: Telemetry) -> None:
    """Each breaker under its tenant (a state of the store of every tenant's names it by its source's key)."""
    for state in states:
        tenant, source = tenant_of_key(state.source)
        with telemetry.for_tenant(tenant):
            telemetry.breaker_tripped(source, state.tripped)


async def refresh_gauges(deps: GaugeDeps) -> None:
    """Read the dead-letter list, the queues' depths and the breakers once each, and tell the gauges."""
    dead = await _read("the dead-letter list", deps.deadletters.list)
    if dead is not None:
        deps.telemetry.deadletters_open(len(dead))
    stats = await _read("the queues' depths", deps.health.queue_stats)
    if stats is not None:
        tell_queues(stats, deps.telemetry)
    states = await _read("the breakers", deps.breakers.list)
    if states is not None:
        tell_breakers(states, deps.telemetry)


async def _read(what: str, read: Callable[[], Awaitable[T]]) -> T | None:
    try:
        return await read()
    except Exception as exc:  # a gauge left as it was is better than a timer that fails
        logger.warning("gauges: could not read %s (%s); its gauge keeps its last value", what, short(exc))
        return None
