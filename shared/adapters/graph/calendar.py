"""CalendarGateway over msgraph-sdk: users' default calendars, with errors mapped onto ours."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import httpx
from kiota_abstractions.base_request_configuration import RequestConfiguration

from shared.adapters.graph.raw import send_json
from shared.adapters.graph.session import GraphAdapter, GraphSession, retry_after_seconds
from shared.adapters.identity.factory import is_invalid_client
from shared.app.ports.planning import CreatedEvent
from shared.domain.planning.drift import TaggedEvent
from shared.domain.tagging import SOURCE_KEY_PROPERTY
from shared.errors import (
    ConcurrencyConflict,
    ConnectorError,
    CredentialUnavailable,
    Forbidden,
    NotFound,
    RejectedByGraph,
    Throttled,
    TransientError,
    UnknownMailbox,
)

__all__ = ["SOURCE_KEY_PROPERTY", "GraphCalendarGateway", "classify_graph_error"]

logger = logging.getLogger(__name__)

_MAILBOX_CODES = frozenset({"ErrorInvalidUser", "ErrorNonExistentMailbox", "MailboxNotEnabledForRESTAPI",
                            "Request_ResourceNotFound", "ResourceNotFound", "ErrorMailboxNotFound"})


def classify_graph_error(status: int, code: str | None, message: str | None,
                         headers: dict[str, str] | None, mailbox: str) -> ConnectorError:
    """Pure: Graph's answer → the connector's error class, with a reason an operator can act on."""
    code = code or ""
    detail = f"Graph answered {status} {code}: {message or ''}".strip()
    if status in (429, 503, 504):
        retry_after = retry_after_seconds((headers or {}).get("retry-after") or (headers or {}).get("Retry-After"))
        return Throttled(detail, retry_after=retry_after, refused=status == 429)
    if status == 404:
        if code in _MAILBOX_CODES:
            return UnknownMailbox(f"mailbox {mailbox} is unknown to Microsoft 365 ({detail})")
        return NotFound(detail)
    if status == 403:
        hint = ""
        if code == "ErrorAccessDenied":
            hint = (" (an Exchange application access policy or RBAC for Applications may exclude this mailbox;"
                    " check with Test-ApplicationAccessPolicy or Test-ServicePrincipalAuthorization)")
        return Forbidden(f"access to mailbox {mailbox} denied: {detail}{hint}")
    if status in (409, 412):
        return ConcurrencyConflict(detail)
    if status == 401:
        return TransientError(f"Graph refused the token: {detail}")
    if 400 <= status < 500:
        return RejectedByGraph(f"Graph rejected the request for {mailbox}: {detail}")
    return TransientError(detail)


class GraphCalendarGateway(GraphAdapter):
    page_size = 100  # events per calendarView page when listing tagged events

    def __init__(self, session: GraphSession, *, owns_session: bool = False) -> None:
        super().__init__(session, owns_session=owns_session)
        self._lookup = session.settings.lookup_principal_name
        self._user_ids: dict[str, str] = {}

    async def create(self, mailbox: str, content: dict[str, Any], *, transaction_id: str,
                     source_key: str) -> CreatedEvent:
        payload = {**content, "transactionId": transaction_id, **_tag(source_key)}
        user = await self._user(mailbox)
        created = await self._call(mailbox, send_json(user.events, "POST", payload))
        if not created or not created.get("id"):
            raise TransientError(f"Graph answered the create in {mailbox} without the event")
        return CreatedEvent(str(created["id"]), str(created["iCalUId"]) if created.get("iCalUId") else None)

    async def ical_uid(self, mailbox: str, event_id: str) -> str | None:
        """The iCalUId of an existing event (one GET; a create's answer already carries it)."""
        from msgraph.generated.users.item.events.item.event_item_request_builder import EventItemRequestBuilder

        query = EventItemRequestBuilder.EventItemRequestBuilderGetQueryParameters(select=["iCalUId"])
        user = await self._user(mailbox)
        event = await self._call(mailbox, send_json(user.events.by_event_id(event_id), "GET",
                                                    config=RequestConfiguration(query_parameters=query)))
        return str(event["iCalUId"]) if event is not None and event.get("iCalUId") else None

    async def update(self, mailbox: str, event_id: str, content: dict[str, Any], *, source_key: str) -> None:
        user = await self._user(mailbox)
        await self._call(mailbox, send_json(user.events.by_event_id(event_id), "PATCH",
                                            {**content, **_tag(source_key)}))

    async def delete(self, mailbox: str, event_id: str) -> None:
        user = await self._user(mailbox)
        await self._call(mailbox, send_json(user.events.by_event_id(event_id), "DELETE"))

    async def find(self, mailbox: str, source_key: str, *, not_before: datetime) -> str | None:
        from msgraph.generated.users.item.events.events_request_builder import EventsRequestBuilder

        literal = source_key.replace("'", "''")
        since = not_before.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        query = EventsRequestBuilder.EventsRequestBuilderGetQueryParameters(
            filter=(f"singleValueExtendedProperties/Any(ep: ep/id eq '{SOURCE_KEY_PROPERTY}'"
                    f" and ep/value eq '{literal}') and start/dateTime ge '{since}'"),
            select=["id"],
            top=5,
        )
        config = RequestConfiguration(query_parameters=query)
        user = await self._user(mailbox)
        found = await self._call(mailbox, send_json(user.events, "GET", config=config))
        ids = [str(e.get("id")) for e in (found.get("value") or [])] if found else []
        if len(ids) > 1:
            logger.warning("mailbox %s holds %d events tagged %s; adopting the first", mailbox, len(ids), source_key)
        return ids[0] if ids else None

    async def tagged_events(self, mailbox: str, *, start: datetime, end: datetime) -> list[TaggedEvent]:
        """calendarView over [start, end) filtered on our property, pages one after another."""
        from msgraph.generated.users.item.calendar_view.calendar_view_request_builder import (
            CalendarViewRequestBuilder,
        )

        query = CalendarViewRequestBuilder.CalendarViewRequestBuilderGetQueryParameters(
            start_date_time=_utc(start), end_date_time=_utc(end),
            filter=f"singleValueExtendedProperties/Any(ep: ep/id eq '{SOURCE_KEY_PROPERTY}' and ep/value ne null)",
            expand=[f"singleValueExtendedProperties($filter=id eq '{SOURCE_KEY_PROPERTY}')"],
            select=["id", "subject", "start", "end", "isAllDay", "showAs", "categories", "location", "type",
                    "seriesMasterId"],
            top=self.page_size,
        )
        config = RequestConfiguration(query_parameters=query)
        config.headers.add("Prefer", 'outlook.timezone="UTC"')
        builder = (await self._user(mailbox)).calendar_view
        page = await self._call(mailbox, send_json(builder, "GET", config=config))
        found: dict[str, TaggedEvent] = {}
        while page is not None:
            for event in page.get("value") or []:
                tagged = _tagged(event)
                if tagged is not None:
                    found.setdefault(tagged.id, tagged)  # a series' occurrences count once, as the series
            link = page.get("@odata.nextLink")
            page = await self._call(mailbox, send_json(builder.with_url(link), "GET")) if link else None
        return list(found.values())

    async def _user(self, mailbox: str) -> Any:
        if not self._lookup:
            return self._client.users.by_user_id(mailbox)
        user_id = self._user_ids.get(mailbox)
        if user_id is None:
            from msgraph.generated.users.users_request_builder import UsersRequestBuilder

            literal = mailbox.replace("'", "''")
            query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
                filter=f"mail eq '{literal}'", select=["id"])
            config = RequestConfiguration(query_parameters=query)
            found = await self._call(mailbox, send_json(self._client.users, "GET", config=config))
            if not found or not found.get("value"):
                raise UnknownMailbox(f"no Microsoft 365 user has the email address {mailbox}")
            user_id = str(found["value"][0].get("id"))
            self._user_ids[mailbox] = user_id
            self._session.limiter.alias(user_id, mailbox)  # one mailbox, one gate, whichever name it goes by
        return self._client.users.by_user_id(user_id)

    @staticmethod
    async def _call(mailbox: str, awaitable: Any) -> Any:
        from azure.core.exceptions import ClientAuthenticationError
        from kiota_abstractions.api_error import APIError

        try:
            return await awaitable
        except APIError as exc:
            error = getattr(exc, "error", None)
            raise classify_graph_error(
                exc.response_status_code or 0,
                getattr(error, "code", None),
                getattr(error, "message", None) or exc.message,
                exc.response_headers,
                mailbox,
            ) from exc
        except ClientAuthenticationError as exc:
            if is_invalid_client(exc):
                # Expired or revoked credential: the worker defers instead of burning deliveries.
                raise CredentialUnavailable(f"no Graph token: {_first_line(str(exc))}") from exc
            raise TransientError(f"no Graph token: {_first_line(str(exc))}") from exc
        except httpx.HTTPError as exc:
            raise TransientError(f"Graph unreachable: {type(exc).__name__}") from exc


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else "authentication failed"


def _utc(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tagged(event: dict[str, Any]) -> TaggedEvent | None:
    """An event as Graph's JSON → what drift compares, or None without our property."""
    key = next((str(p.get("value")) for p in event.get("singleValueExtendedProperties") or []
                if str(p.get("id")).lower() == SOURCE_KEY_PROPERTY.lower() and p.get("value")), None)
    if key is None:
        return None

    def when(value: dict[str, Any] | None) -> dict[str, str] | None:
        if value is None:
            return None
        return {"dateTime": str(value.get("dateTime")), "timeZone": str(value.get("timeZone") or "UTC")}

    location = event.get("location")
    content = {
        "subject": event.get("subject") or "",
        "start": when(event.get("start")),
        "end": when(event.get("end")),
        "isAllDay": bool(event.get("isAllDay")),
        "showAs": event.get("showAs") or "",
        "categories": list(event.get("categories") or []),
        "location": {"displayName": (location.get("displayName") if location else None) or ""},
    }
    event_type = event.get("type") or "singleInstance"
    series = event.get("seriesMasterId") if event_type in ("occurrence", "exception") else None
    return TaggedEvent(str(series or event.get("id")), key, content)


def _tag(source_key: str) -> dict[str, Any]:
    return {"singleValueExtendedProperties": [{"id": SOURCE_KEY_PROPERTY, "value": source_key}]}
