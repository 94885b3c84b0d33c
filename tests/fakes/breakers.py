"""In-memory BreakerStore with the Table adapter's semantics (tests/contract runs both through one suite)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from shared.app.ports.breakers import BreakerState, HeldMessage
from shared.domain.planning.breaker import DeleteCounts
from shared.domain.tenants.keys import tenant_of_key


@dataclass
class InMemoryBreakerStore:
    states: dict[str, BreakerState] = field(default_factory=dict)
    # (source, epoch) → {delete id: (mailbox, bucket)}
    log: dict[tuple[str, int], dict[str, tuple[str, int]]] = field(default_factory=dict)
    held_messages: dict[str, dict[str, HeldMessage]] = field(default_factory=dict)
    purge_name: str = "breakers"

    async def purge(self, tenant_id: str) -> int:
        def gone(source: str) -> bool:
            return tenant_of_key(source)[0] == tenant_id

        removed = sum(1 for s in self.states if gone(s)) + sum(len(v) for s, v in self.held_messages.items() if gone(s))
        removed += sum(2 * len(v) for k, v in self.log.items() if gone(k[0]))  # as the table: two rows a delete
        self.states = {s: v for s, v in self.states.items() if not gone(s)}
        self.log = {k: v for k, v in self.log.items() if not gone(k[0])}
        self.held_messages = {s: v for s, v in self.held_messages.items() if not gone(s)}
        return removed

    async def get(self, source: str) -> BreakerState | None:
        return self.states.get(source)

    async def count_delete(self, source: str, mailbox: str, *, delete_id: str, epoch: int, bucket: int,
                           window: int) -> DeleteCounts:
        log = self.log.setdefault((source, epoch), {})
        log.setdefault(delete_id, (mailbox.lower(), bucket))
        within = [m for m, b in log.values() if bucket - window < b <= bucket]
        return DeleteCounts(source=len(within), mailbox=within.count(mailbox.lower()))

    async def trip(self, state: BreakerState) -> BreakerState:
        current = self.states.get(state.source) or BreakerState(state.source)
        if current.tripped:
            return current
        tripped = replace(current, tripped=True, since=state.since, reason=state.reason, deletes=state.deletes)
        self.states[state.source] = tripped
        return tripped

    async def reset(self, source: str, *, decision: str, at: datetime) -> BreakerState:
        current = self.states.get(source) or BreakerState(source)
        closed = replace(current, tripped=False, epoch=current.epoch + 1, decided_at=at, decision=decision)
        self.states[source] = closed
        return closed

    async def hold(self, message: HeldMessage) -> None:
        self.held_messages.setdefault(message.source, {})[message.id] = message

    async def held(self, source: str) -> list[HeldMessage]:
        return sorted(self.held_messages.get(source, {}).values(), key=lambda m: (m.held_at, m.id))

    async def count_held(self, source: str) -> int:
        return len(self.held_messages.get(source, {}))

    async def unhold(self, source: str, message_id: str) -> None:
        self.held_messages.get(source, {}).pop(message_id, None)

    async def list(self) -> list[BreakerState]:
        return sorted(self.states.values(), key=lambda s: s.source)
