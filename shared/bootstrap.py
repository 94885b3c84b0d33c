"""Composition root: builds the adapters from settings, once per worker; tests pass fakes instead.

Nothing here touches the network: clients connect on first use. Heavy SDKs (msgraph-sdk above all)
are imported only when the adapter that needs them is first built, which keeps cold start small.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.config import Settings
from shared.errors import ConfigurationError
from shared.ports import CalendarGateway, DeadLetterStore, MappingStore, ResourceStore
from shared.queueing import MessageQueue

__all__ = ["Services", "build_services", "current_services", "utcnow"]

logger = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    settings: Settings
    queue: MessageQueue
    mappings: MappingStore
    resources: ResourceStore
    deadletters: DeadLetterStore
    calendar_factory: Callable[[], CalendarGateway]
    clock: Callable[[], datetime] = utcnow
    _calendar: CalendarGateway | None = field(default=None, repr=False)
    _closers: list[Any] = field(default_factory=list, repr=False)

    def calendar(self) -> CalendarGateway:
        if self._calendar is None:
            self._calendar = self.calendar_factory()
            self._closers.append(self._calendar)
        return self._calendar

    async def close(self) -> None:
        for closer in reversed(self._closers):
            close = getattr(closer, "close", None)
            if close is not None:
                await close()
        self._closers.clear()
        self._calendar = None


def build_services(
    settings: Settings,
    *,
    queue: MessageQueue | None = None,
    mappings: MappingStore | None = None,
    resources: ResourceStore | None = None,
    deadletters: DeadLetterStore | None = None,
    calendar: CalendarGateway | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Services:
    """Real adapters for every port left as None."""
    closers: list[Any] = []
    if queue is None:
        queue = _queue(settings)
        closers.append(queue)
    if mappings is None or resources is None or deadletters is None:
        from shared.adapters.tables import TableStores

        stores = TableStores(settings)
        closers.append(stores)
        mappings = mappings or stores.mappings
        resources = resources or stores.resources
        deadletters = deadletters or stores.deadletters

    def calendar_factory() -> CalendarGateway:
        if calendar is not None:
            return calendar
        from shared.adapters.graph_calendar import GraphCalendarGateway

        return GraphCalendarGateway.from_settings(settings)

    return Services(
        settings=settings,
        queue=queue,
        mappings=mappings,
        resources=resources,
        deadletters=deadletters,
        calendar_factory=calendar_factory,
        clock=clock or utcnow,
        _closers=closers,
    )


def _queue(settings: Settings) -> MessageQueue:
    if settings.queue.local_path:
        from shared.adapters.local_queue import LocalQueuePublisher

        return LocalQueuePublisher(settings.queue.local_path)
    from shared.adapters.servicebus import ServiceBusQueue

    return ServiceBusQueue(settings.queue, managed_identity_client_id=settings.managed_identity_client_id)


_services_by_loop: dict[asyncio.AbstractEventLoop, Services] = {}


async def current_services() -> Services:
    """The worker's services, built from the app settings on first use, once per event loop
    (the SDKs' connections belong to the loop that opened them). Triggers call this."""
    loop = asyncio.get_running_loop()
    services = _services_by_loop.get(loop)
    if services is None:
        try:
            services = build_services(Settings.from_env(os.environ))
        except ConfigurationError as exc:
            logger.critical("configuration error: %s", exc)
            raise
        _services_by_loop[loop] = services
    return services
