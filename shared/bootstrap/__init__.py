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
from typing import TYPE_CHECKING, Any

from shared.app.messaging import MessageQueue
from shared.app.ports.operator import HealthProbes
from shared.app.ports.planning import CalendarGateway, DeadLetterStore, MappingStore, ResourceStore
from shared.config import Settings
from shared.errors import ConfigurationError

if TYPE_CHECKING:
    from shared.adapters.graph.session import GraphSession
    from shared.app.credentials.runtime import CredentialRuntime
    from shared.app.rooms.services import RoomPorts

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
    rooms_factory: Callable[[], Any] | None = None
    _calendar: CalendarGateway | None = field(default=None, repr=False)
    _rooms: Any = field(default=None, repr=False)
    credentials_factory: Callable[[], Any] | None = None
    _credentials: Any = field(default=None, repr=False)
    graph_session_factory: Callable[[], Any] | None = None
    _graph_session: Any = field(default=None, repr=False)
    health: HealthProbes | None = None  # the doctor's probes
    _closers: list[Any] = field(default_factory=list, repr=False)

    def calendar(self) -> CalendarGateway:
        if self._calendar is None:
            self._calendar = self.calendar_factory()
            self._closers.append(self._calendar)
        return self._calendar

    def rooms(self) -> RoomPorts:
        """The room use cases' ports (shared.rooms), built on first use."""
        if self._rooms is None:
            assert self.rooms_factory is not None
            self._rooms = self.rooms_factory()
            self._closers.append(self._rooms)
        return self._rooms  # type: ignore[no-any-return]

    def credentials(self) -> CredentialRuntime:
        """The Graph credential provider, rotation and health (shared.credentials), built on first use."""
        if self._credentials is None:
            assert self.credentials_factory is not None
            self._credentials = self.credentials_factory()
            self._closers.append(self._credentials)
        return self._credentials  # type: ignore[no-any-return]

    def graph_session(self) -> GraphSession:
        """The one Graph session of this worker (client, connection pool, per-mailbox limiter) that every
        Graph adapter uses, built on first use."""
        if self._graph_session is None:
            assert self.graph_session_factory is not None
            self._graph_session = self.graph_session_factory()
            self._closers.append(self._graph_session)
        return self._graph_session  # type: ignore[no-any-return]

    async def close(self) -> None:
        self._rooms = None
        self._credentials = None
        self._graph_session = None
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
    rooms: RoomPorts | None = None,
    credentials: CredentialRuntime | None = None,
    health: HealthProbes | None = None,
) -> Services:
    """Real adapters for every port left as None."""
    closers: list[Any] = []
    stores: Any = None
    if queue is None:
        queue = _queue(settings)
        closers.append(queue)
    if mappings is None or resources is None or deadletters is None:
        from shared.adapters.tables.stores import TableStores

        stores = TableStores(settings)
        closers.append(stores)
        mappings = mappings or stores.mappings
        resources = resources or stores.resources
        deadletters = deadletters or stores.deadletters

    def calendar_factory() -> CalendarGateway:
        if calendar is not None:
            return calendar
        from shared.adapters.graph.calendar import GraphCalendarGateway

        return GraphCalendarGateway(services.graph_session())

    def graph_session_factory() -> GraphSession:
        from shared.adapters.graph.session import GraphSession

        return GraphSession(settings, credential=services.credentials().provider)

    def credentials_factory() -> CredentialRuntime:
        if credentials is not None:
            return credentials
        from shared.app.credentials.runtime import build_credential_runtime

        return build_credential_runtime(settings, tables=stores, clock=clock or utcnow,
                                        graph_session=services.graph_session)

    def rooms_factory() -> RoomPorts:
        if rooms is not None:
            return rooms
        from shared.adapters.tables.stores import TableStores
        from shared.bootstrap.rooms import real_room_ports

        async def webhook_secret() -> str | None:
            return await services.credentials().outbound_webhook_secret()

        secret_source = webhook_secret if settings.credential.key_vault_url else None
        if stores is not None:
            return real_room_ports(settings, stores, owns_stores=False, graph_session=services.graph_session,
                                   webhook_secret=secret_source)
        return real_room_ports(settings, TableStores(settings), owns_stores=True,
                               graph_session=services.graph_session, webhook_secret=secret_source)

    services = Services(
        settings=settings,
        queue=queue,
        mappings=mappings,
        resources=resources,
        deadletters=deadletters,
        calendar_factory=calendar_factory,
        clock=clock or utcnow,
        rooms_factory=rooms_factory,
        credentials_factory=credentials_factory,
        graph_session_factory=graph_session_factory,
        _closers=closers,
    )
    if health is None:
        from shared.adapters.health import DeploymentProbes

        # Fakes given for the stores: no Table Storage here, so the probe reads the resource store given.
        health = DeploymentProbes(tables=stores.probe if stores is not None else resources.list, queue=queue,
                                  graph=services.graph_session)
    services.health = health
    return services


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
        # The SDKs log every HTTP request at INFO: noise that would also be billed as telemetry.
        logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
        logging.getLogger("azure.identity").setLevel(logging.WARNING)
        try:
            services = build_services(Settings.from_env(os.environ))
        except ConfigurationError as exc:
            logger.critical("configuration error: %s", exc)
            raise
        _services_by_loop[loop] = services
    return services
