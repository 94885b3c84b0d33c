"""Real adapters for the room ports (called by ``shared.bootstrap``; heavy SDKs imported on first use)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from shared.app.ports.rooms import RoomGraph, SubscriptionGateway, WebhookSender
from shared.app.rooms.services import RoomPorts
from shared.config import Settings

if TYPE_CHECKING:
    from shared.adapters.graph.session import GraphSession

__all__ = ["real_room_ports"]


def real_room_ports(settings: Settings, stores: Any, *, owns_stores: bool,
                    graph_session: Callable[[], GraphSession] | None = None,
                    webhook_secret: Callable[[], Awaitable[str | None]] | None = None) -> RoomPorts:
    """``graph_session`` gives the process's Graph session (bootstrap's, shared with the calendar adapter);
    None: one of the ports' own, with the client secret from the settings. ``webhook_secret`` reads the
    outbound signing secret (Key Vault); None: ``CONNECTOR_OUTBOUND_WEBHOOK_SECRET``."""
    from shared.adapters.tables.rooms import RoomTables

    tables = RoomTables(stores)

    def session() -> GraphSession:
        if graph_session is not None:
            return graph_session()
        if "graph_session" not in ports._built:
            from shared.adapters.graph.session import GraphSession

            ports._built["graph_session"] = GraphSession(settings)  # closed with the ports
        return ports._built["graph_session"]  # type: ignore[no-any-return]

    def graph() -> RoomGraph:
        from shared.adapters.graph.rooms import GraphRoomReader

        return GraphRoomReader(session())

    def subscriptions() -> SubscriptionGateway:
        from shared.adapters.graph.subscriptions import GraphSubscriptionGateway

        return GraphSubscriptionGateway(session())

    def webhook() -> WebhookSender | None:
        rooms = settings.rooms
        if not rooms.outbound_webhook_url:
            return None
        from shared.adapters.webhook import StandardWebhookSender

        secret = webhook_secret or rooms.outbound_webhook_secret
        if secret is None:
            return None
        return StandardWebhookSender(rooms.outbound_webhook_url, secret, ca_file=settings.ca_file)

    ports = RoomPorts(rooms=tables.rooms, reservations=tables.reservations, own_writes=tables.own_writes,
                      log=tables.log, users=tables.users, outbox=tables.outbox, graph_factory=graph,
                      subscriptions_factory=subscriptions, webhook_factory=webhook)
    if owns_stores:
        ports._built["stores"] = stores  # closed with the ports
    return ports
