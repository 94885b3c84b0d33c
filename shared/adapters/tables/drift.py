"""Table Storage adapter of drift repair's reports (table ``{prefix}drift``): one row naming the last run,
and one row per mailbox with what that mailbox's latest scan found and did.

Another tenant's last run is the row ``run`` / ``tenant_key(tenant, "last")`` and its mailboxes are
``tenant_key(tenant, mailbox)`` (``shared.app.planning.tenancy.ScopedDriftReports``); a tenant's purge finds them by
those keys (the run's RowKey, the mailbox rows' ``Mailbox``)."""

from __future__ import annotations

import json
from typing import Any

from azure.data.tables import UpdateMode

from shared.adapters.tables.stores import TableStores, _delete_scoped, _encode
from shared.app.ports.planning import LAST_RUN, DriftRun, MailboxDrift
from shared.domain.tenants.model import TenantId
from shared.errors import NotFound

__all__ = ["TableDriftReportStore"]

_RUN = "run"


class TableDriftReportStore:
    purge_name = "drift"

    def __init__(self, stores: TableStores) -> None:
        self._stores = stores

    async def purge(self, tenant_id: TenantId) -> int:
        table = await self._stores.table("drift")
        run = await _delete_scoped(self._stores, table, "RowKey", tenant_id, "drift run of a tenant", partition=_RUN)
        return run + await _delete_scoped(self._stores, table, "Mailbox", tenant_id, "drift reports of a tenant",
                                          partition="mailbox")

    async def start(self, run: DriftRun, key: str = LAST_RUN) -> None:
        table = await self._stores.table("drift")
        with self._stores.errors("drift run"):
            await table.upsert_entity({"PartitionKey": _RUN, "RowKey": key, "RunId": run.run_id,
                                       "StartedAt": run.started_at, "Trigger": run.trigger, "Mode": run.mode,
                                       "Mailboxes": run.mailboxes}, mode=UpdateMode.REPLACE)

    async def last_run(self, key: str = LAST_RUN) -> DriftRun | None:
        table = await self._stores.table("drift")
        try:
            with self._stores.errors("drift run"):
                entity = await table.get_entity(_RUN, key)
        except NotFound:
            return None
        return DriftRun(entity["RunId"], entity["StartedAt"], entity["Trigger"], entity["Mode"],
                        int(entity.get("Mailboxes") or 0))

    async def record(self, report: MailboxDrift) -> None:
        table = await self._stores.table("drift")
        with self._stores.errors("drift report"):
            await table.upsert_entity({
                "PartitionKey": "mailbox", "RowKey": _encode(report.mailbox), "RunId": report.run_id,
                "Mailbox": report.mailbox, "FinishedAt": report.finished_at, "Found": json.dumps(report.found),
                "Done": json.dumps(report.done), "Error": report.error or ""}, mode=UpdateMode.REPLACE)

    async def reports(self, run_id: str) -> list[MailboxDrift]:
        table = await self._stores.table("drift")
        query = "PartitionKey eq 'mailbox' and RunId eq @run"
        with self._stores.errors("drift reports"):
            rows = [_report(e) async for e in table.query_entities(query, parameters={"run": run_id})]
        return sorted(rows, key=lambda r: r.mailbox)


def _report(entity: Any) -> MailboxDrift:
    return MailboxDrift(entity["RunId"], entity["Mailbox"], entity["FinishedAt"], json.loads(entity["Found"]),
                        json.loads(entity["Done"]), entity.get("Error") or None)
