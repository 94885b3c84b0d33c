"""Table Storage adapters of watched organizers: the organizers (table ``{prefix}organizers``, ETag concurrency as
the rooms') and the last known state of each meeting the connector wrote in their calendars
(``{prefix}appointmentwatch``, one partition per organizer)."""

from __future__ import annotations

import json
from contextlib import suppress
from datetime import datetime
from typing import Any

from azure.data.tables import UpdateMode

from shared.adapters.tables.stores import TableStores, _delete_scoped, _encode, _get_chunks, _put_chunks
from shared.app.ports.organizers import Organizer
from shared.domain.people.watching import AppointmentWatch
from shared.domain.tenants.model import TenantId
from shared.errors import NotFound

__all__ = ["OrganizerTables"]


def _when(value: object) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


class OrganizerTables:
    def __init__(self, stores: TableStores) -> None:
        self.organizers = TableOrganizerStore(stores)
        self.watches = TableAppointmentWatchStore(stores)


class TableOrganizerStore:
    purge_name = "organizers"

    def __init__(self, stores: TableStores) -> None:
        self._stores = stores

    async def purge(self, tenant_id: TenantId) -> int:
        table = await self._stores.table("organizers")
        return await _delete_scoped(self._stores, table, "Email", tenant_id, "organizers of a tenant",
                                    partition="organizer")

    @staticmethod
    def _organizer(e: Any) -> Organizer:  # a TableEntity: a dict with .metadata
        return Organizer(
            email=e["Email"], activated_at=datetime.fromisoformat(e["ActivatedAt"]),
            subscription_id=e.get("SubscriptionId") or None, client_state=e.get("ClientState") or None,
            expires_at=_when(e.get("ExpiresAt")), failing_since=_when(e.get("FailingSince")),
            failure=e.get("Failure") or None, etag=e.metadata["etag"])

    async def get(self, email: str) -> Organizer | None:
        table = await self._stores.table("organizers")
        try:
            with self._stores.errors(f"organizer {email}"):
                return self._organizer(await table.get_entity("organizer", _encode(email.lower())))
        except NotFound:
            return None

    async def save(self, organizer: Organizer) -> Organizer:
        table = await self._stores.table("organizers")
        entity = {
            "PartitionKey": "organizer", "RowKey": _encode(organizer.email), "Email": organizer.email,
            "ActivatedAt": organizer.activated_at.isoformat(), "SubscriptionId": organizer.subscription_id or "",
            "ClientState": organizer.client_state or "", "ExpiresAt": _iso(organizer.expires_at),
            "FailingSince": _iso(organizer.failing_since), "Failure": (organizer.failure or "")[:2000],
        }
        etag = await self._stores.write_if(table, entity, organizer.etag, f"organizer {organizer.email}")
        return Organizer(**{**organizer.__dict__, "etag": etag})

    async def delete(self, email: str) -> None:
        table = await self._stores.table("organizers")
        with suppress(NotFound), self._stores.errors(f"organizer {email}"):
            await table.delete_entity("organizer", _encode(email.lower()))

    async def list(self) -> list[Organizer]:
        table = await self._stores.table("organizers")
        with self._stores.errors("organizers"):
            found = [self._organizer(e) async for e in table.query_entities("PartitionKey eq 'organizer'")]
        return sorted(found, key=lambda o: o.email)


class TableAppointmentWatchStore:
    purge_name = "appointmentwatch"

    def __init__(self, stores: TableStores) -> None:
        self._stores = stores

    async def purge(self, tenant_id: TenantId) -> int:
        table = await self._stores.table("appointmentwatch")
        return await _delete_scoped(self._stores, table, "Organizer", tenant_id, "appointment state of a tenant")

    @staticmethod
    def _state(e: Any) -> AppointmentWatch:
        return AppointmentWatch(
            organizer=e["Organizer"], event_id=e["EventId"], appointment_id=e["AppointmentId"],
            responses=json.loads(_get_chunks(e, "Responses") or "{}"), start=e.get("Start") or None,
            end=e.get("End") or None,
            written_start=e.get("WrittenStart") or None, written_end=e.get("WrittenEnd") or None,
            change_key=e.get("ChangeKey") or None, etag=e.metadata["etag"])

    async def get(self, organizer: str, event_id: str) -> AppointmentWatch | None:
        table = await self._stores.table("appointmentwatch")
        try:
            with self._stores.errors("appointment state"):
                return self._state(await table.get_entity(_encode(organizer.lower()), _encode(event_id)))
        except NotFound:
            return None

    async def save(self, state: AppointmentWatch) -> None:
        # The organizer's queue session serialises the worker's writes: a plain upsert.
        table = await self._stores.table("appointmentwatch")
        entity: dict[str, Any] = {
            "PartitionKey": _encode(state.organizer.lower()), "RowKey": _encode(state.event_id),
            "Organizer": state.organizer, "EventId": state.event_id, "AppointmentId": state.appointment_id,
            "Start": state.start or "", "End": state.end or "", "WrittenStart": state.written_start or "",
            "WrittenEnd": state.written_end or "", "ChangeKey": state.change_key or "",
        }
        # Up to 500 attendees' answers: more than one string property holds.
        _put_chunks(entity, "Responses", json.dumps(state.responses, sort_keys=True))
        with self._stores.errors("appointment state"):
            await table.upsert_entity(entity, mode=UpdateMode.REPLACE)

    async def list(self, organizer: str) -> list[AppointmentWatch]:
        table = await self._stores.table("appointmentwatch")
        with self._stores.errors("appointment state"):
            return [self._state(e) async for e in table.query_entities(
                "PartitionKey eq @p", parameters={"p": _encode(organizer.lower())})]

    async def forget(self, organizer: str) -> None:
        table = await self._stores.table("appointmentwatch")
        for state in await self.list(organizer):
            with suppress(NotFound), self._stores.errors("appointment state"):
                await table.delete_entity(_encode(organizer.lower()), _encode(state.event_id))
