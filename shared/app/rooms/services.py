"""The room use cases' ports, bundled; ``shared.bootstrap`` builds the real ones, tests pass fakes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.app.ports.rooms import (
    EventLog,
    Outbox,
    OwnWrites,
    ReservationStore,
    RoomGraph,
    RoomStore,
    SubscriptionGateway,
    UserStore,
    WebhookSender,
)

__all__ = ["GRAPH_QUEUE", "OUTBOUND_QUEUE", "RoomPorts"]

GRAPH_QUEUE = "graph-notifications"
OUTBOUND_QUEUE = "outbound-events"


@dataclass
class RoomPorts:
    rooms: RoomStore
    reservations: ReservationStore
    own_writes: OwnWrites
    log: EventLog
    users: UserStore
    outbox: Outbox
    graph_factory: Callable[[], RoomGraph]
    subscriptions_factory: Callable[[], SubscriptionGateway]
    webhook_factory: Callable[[], WebhookSender | None]
    # Notifications dropped by this instance since it started, by reason (never their clientState).
    dropped: Counter[str] = field(default_factory=Counter)
    _built: dict[str, Any] = field(default_factory=dict, repr=False)

    def _once(self, name: str, factory: Callable[[], Any]) -> Any:
        if name not in self._built:
            self._built[name] = factory()
        return self._built[name]

    def graph(self) -> RoomGraph:
        return self._once("graph", self.graph_factory)  # type: ignore[no-any-return]

    def subscriptions(self) -> SubscriptionGateway:
        return self._once("subscriptions", self.subscriptions_factory)  # type: ignore[no-any-return]

    def webhook(self) -> WebhookSender | None:
        return self._once("webhook", self.webhook_factory)  # type: ignore[no-any-return]

    async def close(self) -> None:
        for built in self._built.values():
            close = getattr(built, "close", None)
            if close is not None:
                await close()
        self._built.clear()
