"""MeetingCalendar over msgraph-sdk: meetings in organizers' calendars, written with the app's token or the
organizer's delegated connection, through the process's one Graph session (its pool and per-mailbox limiter).

The calendar adapter's pieces serve here too: its error mapping, the source-key tag and the look-up by it.
A ``NeedsReconnect`` raised by a delegated credential passes through untouched (the settle policy parks the work).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.adapters.graph.calendar import GraphCalendarGateway, _tag
from shared.adapters.graph.raw import send_json
from shared.adapters.graph.session import GraphSession
from shared.app.ports.people import Acting, DelegatedCredentials, Meeting
from shared.errors import TransientError

__all__ = ["GraphMeetingCalendar"]

_READ = ["id", "iCalUId", "webLink", "onlineMeeting", "isOnlineMeeting"]


class _ActingCalendar(GraphCalendarGateway):
    """The calendar adapter over one msgraph client: the app's, or one acting as a person."""

    def __init__(self, session: GraphSession, client: Any) -> None:
        super().__init__(session)
        self._client = client


class GraphMeetingCalendar:
    def __init__(self, session: GraphSession, delegated: DelegatedCredentials, app_client: Any = None) -> None:
        """``app_client``: the msgraph client of the app's token (a tenant's own, ``TenantGraphClients``); None:
        the session's (the default tenant's)."""
        self._session = session
        self._delegated = delegated
        self._app_client = app_client
        self._app: _ActingCalendar | None = None
        self._people: dict[str, _ActingCalendar] = {}

    def _as(self, organizer: str, acting: Acting) -> _ActingCalendar:
        if acting == "application":
            if self._app is None:
                self._app = _ActingCalendar(self._session, self._app_client or self._session.client)
            return self._app
        calendar = self._people.get(organizer)
        if calendar is None:  # one client per person, over the session's pool and limiter
            client = self._session.client_for(self._delegated.for_user(organizer))
            calendar = self._people[organizer] = _ActingCalendar(self._session, client)
        return calendar

    async def create(self, organizer: str, content: dict[str, Any], *, transaction_id: str, source_key: str,
                     acting: Acting) -> Meeting:
        calendar = self._as(organizer, acting)
        payload = {**content, "transactionId": transaction_id, **_tag(source_key)}
        user = await calendar._user(organizer)
        return _meeting(await calendar._call(organizer, send_json(user.events, "POST", payload)))

    async def update(self, organizer: str, event_id: str, changes: dict[str, Any], *, source_key: str,
                     acting: Acting) -> Meeting:
        calendar = self._as(organizer, acting)
        user = await calendar._user(organizer)
        patched = await calendar._call(organizer, send_json(user.events.by_event_id(event_id), "PATCH",
                                                            {**changes, **_tag(source_key)}))
        return _meeting(patched) if patched else await self.read(organizer, event_id, acting=acting)

    async def cancel(self, organizer: str, event_id: str, comment: str | None, *, acting: Acting) -> None:
        calendar = self._as(organizer, acting)
        user = await calendar._user(organizer)
        body = {"Comment": comment or ""}  # the name as Graph documents it (and the SDK writes it)
        await calendar._call(organizer, send_json(user.events.by_event_id(event_id).cancel, "POST", body))

    async def read(self, organizer: str, event_id: str, *, acting: Acting) -> Meeting:
        from kiota_abstractions.base_request_configuration import RequestConfiguration
        from msgraph.generated.users.item.events.item.event_item_request_builder import EventItemRequestBuilder

        calendar = self._as(organizer, acting)
        query = EventItemRequestBuilder.EventItemRequestBuilderGetQueryParameters(select=_READ)
        user = await calendar._user(organizer)
        return _meeting(await calendar._call(organizer, send_json(
            user.events.by_event_id(event_id), "GET", config=RequestConfiguration(query_parameters=query))))

    async def find(self, organizer: str, source_key: str, *, not_before: datetime, acting: Acting) -> str | None:
        return await self._as(organizer, acting).find(organizer, source_key, not_before=not_before)

    async def close(self) -> None:
        """Nothing of its own: the clients belong to the session, which the composition root closes."""


def _meeting(event: dict[str, Any] | None) -> Meeting:
    if not event or not event.get("id"):
        raise TransientError("Graph answered without the meeting")
    online = event.get("onlineMeeting")
    join_url = online.get("joinUrl") if isinstance(online, dict) else None
    return Meeting(id=str(event["id"]), ical_uid=str(event["iCalUId"]) if event.get("iCalUId") else None,
                   web_link=str(event["webLink"]) if event.get("webLink") else None,
                   join_url=str(join_url) if join_url else None)
