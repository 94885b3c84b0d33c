"""RoomGraph over msgraph-sdk: room events, calendarView delta, /places rooms and users delta.

Results are handed to the use cases as Graph JSON (dicts), the shape the pure reservation code reads: the SDK's
request builders and adapter send the requests, but the answers are read as JSON, never as the SDK's models.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kiota_abstractions.base_request_configuration import RequestConfiguration

from shared.adapters.graph.raw import send_json
from shared.adapters.graph.session import GraphAdapter
from shared.adapters.graph.subscriptions import call_graph
from shared.app.ports.rooms import DeltaPage
from shared.domain.tagging import SOURCE_KEY_PROPERTY
from shared.errors import NotFound, RejectedByGraph

__all__ = ["GraphRoomReader"]

MAX_PAGES = 500  # a runaway nextLink chain of /places stops here rather than looping forever
USER_SELECT = ["id", "userPrincipalName", "mail", "displayName", "accountEnabled"]


def _utc(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class GraphRoomReader(GraphAdapter):
    async def get_event(self, room: str, event_id: str) -> dict[str, Any] | None:
        from msgraph.generated.users.item.events.item.event_item_request_builder import EventItemRequestBuilder

        query = EventItemRequestBuilder.EventItemRequestBuilderGetQueryParameters(
            expand=[f"singleValueExtendedProperties($filter=id eq '{SOURCE_KEY_PROPERTY}')"])
        request = self._client.users.by_user_id(room).events.by_event_id(event_id)
        config = RequestConfiguration(query_parameters=query)
        try:
            event: dict[str, Any] | None = await call_graph(room, send_json(request, "GET", config=config))
        except NotFound:
            return None
        return event

    async def calendar_delta_page(self, room: str, link: str | None, start: datetime, end: datetime) -> DeltaPage:
        from msgraph.generated.users.item.calendar_view.delta.delta_request_builder import DeltaRequestBuilder

        builder = self._client.users.by_user_id(room).calendar_view.delta
        if link:
            pending = send_json(builder.with_url(link), "GET")
        else:
            query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
                start_date_time=_utc(start), end_date_time=_utc(end))
            pending = send_json(builder, "GET", config=RequestConfiguration(query_parameters=query))
        return await self._page(room, pending)

    async def users_delta_page(self, link: str | None) -> DeltaPage:
        from msgraph.generated.users.delta.delta_request_builder import DeltaRequestBuilder

        builder = self._client.users.delta
        if link:
            pending = send_json(builder.with_url(link), "GET")
        else:
            query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(select=USER_SELECT)
            pending = send_json(builder, "GET", config=RequestConfiguration(query_parameters=query))
        return await self._page("users", pending)

    async def _page(self, subject: str, pending: Any) -> DeltaPage:
        try:
            page = await call_graph(subject, pending) or {}
        except (NotFound, RejectedByGraph) as exc:
            raise NotFound(f"delta state of {subject} expired: {exc}") from exc
        events: list[dict[str, Any]] = []
        removed: list[str] = []
        for raw in page.get("value") or []:
            if "@removed" in raw:
                removed.append(str(raw.get("id")))
                if subject == "users":
                    events.append(raw)
            else:
                events.append(raw)
        if page.get("@odata.deltaLink"):
            return DeltaPage(events, removed, delta_link=str(page["@odata.deltaLink"]))
        if page.get("@odata.nextLink"):
            return DeltaPage(events, removed, next_link=str(page["@odata.nextLink"]))
        raise NotFound(f"a delta page of {subject} has neither a next nor a delta link")

    async def list_rooms(self) -> list[dict[str, Any]]:
        builder = self._client.places.graph_room
        pending = send_json(builder, "GET")
        rooms: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            page = await call_graph("places", pending) or {}
            rooms.extend(page.get("value") or [])
            link = page.get("@odata.nextLink")
            if not link:
                break
            pending = send_json(builder.with_url(link), "GET")
        return rooms
