"""ScheduleReader over msgraph-sdk: ``POST /users/{mailbox}/calendar/getSchedule``.

Times are asked for and answered in the request's zone (``Prefer: outlook.timezone``, a Windows name as Graph
takes every one of them). A person's delegated connection gets a client of its own over the session's pool and
per-mailbox limiter (``GraphSession.client_for``), kept for the next request as that person.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from kiota_abstractions.base_request_configuration import RequestConfiguration

from shared.adapters.graph.session import GraphAdapter, GraphSession
from shared.adapters.graph.subscriptions import call_graph, from_json
from shared.app.ports.availability import ScheduleRequest
from shared.app.ports.people import DelegatedCredentials

__all__ = ["GraphScheduleReader"]


def _wall(request: ScheduleRequest, which: str) -> dict[str, str]:
    instant = request.start if which == "start" else request.end
    local = instant.astimezone(request.zone.zone)
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": request.zone.windows}


class GraphScheduleReader(GraphAdapter):
    def __init__(self, session: GraphSession, delegated: DelegatedCredentials, *, owns_session: bool = False) -> None:
        super().__init__(session, owns_session=owns_session)
        self._delegated = delegated
        self._as: dict[str, Any] = {}  # person → their client (each holds an httpx client until the session closes)

    def _client_as(self, person: str) -> Any:
        client = self._as.get(person)
        if client is None:
            client = self._as[person] = self._session.client_for(self._delegated.for_user(person))
        return client

    async def get_schedule(self, request: ScheduleRequest, *, mailbox: str,
                           as_user: bool = False) -> Sequence[dict[str, Any]]:
        from msgraph.generated.users.item.calendar.get_schedule.get_schedule_post_request_body import (
            GetSchedulePostRequestBody,
        )

        body = from_json(GetSchedulePostRequestBody, {
            "schedules": list(request.schedules),
            "startTime": _wall(request, "start"),
            "endTime": _wall(request, "end"),
            "availabilityViewInterval": request.interval_minutes,
        })
        from msgraph.generated.models.o_data_errors.o_data_error import ODataError

        config: Any = RequestConfiguration()
        config.headers.add("Prefer", f'outlook.timezone="{request.zone.windows}"')
        client = self._client_as(mailbox) if as_user else self._client
        builder = client.users.by_user_id(mailbox).calendar.get_schedule
        # The answer's JSON as Graph sent it: deserializing it into SDK models costs more than the round trip
        # (kiota's backing store, some 200 ms for 25 schedules of a working week), and the domain reads JSON.
        raw = await call_graph(mailbox, builder.request_adapter.send_primitive_async(
            builder.to_post_request_information(body, config), "bytes", {"XXX": ODataError}))
        answer = json.loads(raw) if raw else {}
        value = answer.get("value") if isinstance(answer, dict) else None
        return [s for s in value if isinstance(s, dict)] if isinstance(value, list) else []
