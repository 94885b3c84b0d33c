"""HealthProbes over the real services: Table Storage, the queue (Service Bus or the local queue file) and
Graph through the process's Graph session. Built by the composition root; nothing connects before a probe."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from shared.app.messaging import PLANNING_QUEUE, QUEUES, MessageQueue
from shared.app.ports.operator import MailboxAnswer, QueueStats

if TYPE_CHECKING:
    from shared.adapters.graph.session import GraphSession

__all__ = ["DeploymentProbes"]


class DeploymentProbes:
    """``tables``: reads Table Storage once (``TableStores.probe``); ``queue``: the app's queue adapter (one
    without a ``probe``, a test's fake, counts as reachable); ``graph``: the process's Graph session."""

    def __init__(self, *, tables: Callable[[], Awaitable[Any]], queue: MessageQueue,
                 graph: Callable[[], GraphSession]) -> None:
        self._tables = tables
        self._queue = queue
        self._graph = graph

    async def table_storage(self) -> None:
        await self._tables()

    async def queue(self) -> None:
        from shared.adapters.local_queue import LocalQueuePublisher
        from shared.adapters.servicebus import ServiceBusQueue

        if isinstance(self._queue, ServiceBusQueue | LocalQueuePublisher):
            # Service Bus: opening a sender link proves the namespace is reachable and the identity may send.
            await self._queue.probe(PLANNING_QUEUE)

    async def queue_stats(self) -> list[QueueStats]:
        from shared.adapters.local_queue import LocalQueuePublisher
        from shared.adapters.servicebus import ServiceBusQueue

        if isinstance(self._queue, ServiceBusQueue | LocalQueuePublisher):
            return await self._queue.stats(QUEUES)
        return []

    async def mailbox(self, mailbox: str, token: str) -> MailboxAnswer:
        import httpx

        session = self._graph()
        url = f"{session.settings.graph_endpoint}/users/{quote(mailbox)}/events?$top=1&$select=id"
        try:
            response = await session.http.get(url, headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            return MailboxAnswer(None, type(exc).__name__)
        return MailboxAnswer(response.status_code, "" if response.status_code == 200 else _error_code(response))


def _error_code(response: Any) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return ""
