"""Drift repair, one mailbox at a time: compare the mapping with the connector's events in the calendar.

A run is a set of queued scan jobs, one per mailbox (session ``drift~{mailbox}`` on the planning queue, so
jobs of one mailbox never overlap and their pages stay sequential). A scan never writes Graph: it queues a
repair into the entity's own session, where the sync worker handles it like a redelivery of the last applied
event (version fencing still holds: a newer event wins), so it never competes with live sync for an entity.
An orphan to adopt gets a mapping row by an insert, which fails harmlessly if live sync wrote one meanwhile.
In "report" mode a scan only counts. Each scan stores its report and logs it as one structured line.

A run is of one tenant. Another tenant's jobs and repairs carry it (``TENANT_PROPERTY``, ids led by it as at
ingest), and its scan acts in it (``acting_tenant``): it lists only the tenant's mappings, reads calendars with the
tenant's Graph client and records into the tenant's reports. The default tenant's ids and keys are unchanged.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from shared.app.messaging import (
    PLANNING_QUEUE,
    TENANT_PROPERTY,
    Delivery,
    MessageQueue,
    OutboundMessage,
    Settlement,
    source_tag,
    tenant_of,
)
from shared.app.planning.tenancy import ScopedDriftReports, ScopedMappings
from shared.app.ports.clock import Clock
from shared.app.ports.planning import (
    CalendarGateway,
    DriftReportStore,
    MailboxDrift,
    MappingStore,
    ResourceStore,
    TenantCalendars,
)
from shared.app.ports.telemetry import NO_TELEMETRY, Telemetry
from shared.app.ports.tenants import TenantLookup
from shared.app.tenants.acting import acting_tenant
from shared.config import Settings
from shared.domain.planning.contract import check_event
from shared.domain.planning.drift import (
    DRIFT_KINDS,
    Finding,
    MappedEntry,
    find_drift,
    parse_source_key,
    rebuilt_mapping,
)
from shared.domain.planning.model import EntityKey, Mapping
from shared.domain.planning.render import desired_state
from shared.domain.tenants.keys import tenant_queue_id
from shared.domain.tenants.model import TenantId
from shared.errors import ConcurrencyConflict, ConfigurationError, InvalidMessage

__all__ = ["DRIFT_PROPERTY", "DriftDeps", "is_scan", "scan_job", "scan_mailbox_message"]

logger = logging.getLogger(__name__)

# Application property of the drift messages on the planning queue: "scan" (a mailbox's job), or a repair
# for one entity: "deleted" / "changed" (the last applied event again) or "remove" (an orphan event).
DRIFT_PROPERTY = "connector-drift"


@dataclass(frozen=True)
class DriftDeps:
    settings: Settings
    calendar: CalendarGateway
    mappings: MappingStore
    resources: ResourceStore
    reports: DriftReportStore
    queue: MessageQueue
    settle: Settlement
    clock: Clock
    telemetry: Telemetry = NO_TELEMETRY
    tenants: TenantLookup | None = None  # None: one tenant, the settings'
    tenant_calendars: TenantCalendars | None = None  # the other tenants' calendars (each with its own token)


def is_scan(delivery: Delivery) -> bool:
    return delivery.application_properties.get(DRIFT_PROPERTY) == "scan"


def scan_job(run_id: str, mailbox: str, mode: str, source: str | None,
             tenant: TenantId | None = None) -> OutboundMessage:
    """The queued job of one mailbox in a run of ``tenant`` (None: the default tenant)."""
    body = {"runId": run_id, "mailbox": mailbox, "mode": mode, "source": source}
    return OutboundMessage(body=json.dumps(body).encode("utf-8"),
                           message_id=tenant_queue_id(tenant, "drift", run_id, mailbox),
                           session_id=tenant_queue_id(tenant, "drift", mailbox), content_type="application/json",
                           application_properties=_in_tenant({DRIFT_PROPERTY: "scan"}, tenant))


def _in_tenant(properties: dict[str, str | int], tenant: TenantId | None) -> dict[str, str | int]:
    return {**properties, TENANT_PROPERTY: tenant} if tenant else properties


async def scan_mailbox_message(body: bytes, delivery: Delivery, deps: DriftDeps) -> str:
    """Scan one mailbox for drift and settle the job's message; return the outcome for the log."""
    return await deps.settle.settle(PLANNING_QUEUE, body, delivery, lambda: _scan(body, delivery, deps))


async def _acting_in(delivery: Delivery, deps: DriftDeps) -> tuple[TenantId | None, DriftDeps]:
    """The job's tenant (None: the default) and the deps acting in it: only its mappings, its Graph client, its
    reports. Raises ``PermanentError`` (dead letter) for a stopped or unknown tenant."""
    tenant = await acting_tenant(delivery, deps.settings, deps.tenants)
    scope = tenant.id if tenant is not None else None
    deps = replace(deps, mappings=ScopedMappings(deps.mappings, scope),
                   reports=ScopedDriftReports(deps.reports, scope))
    if tenant is None:
        return None, deps
    if deps.tenant_calendars is None:
        raise ConfigurationError("tenants", f"no Graph client for tenant {tenant.id}")
    return tenant.id, replace(deps, calendar=deps.tenant_calendars.calendar(tenant))


async def _scan(body: bytes, delivery: Delivery, deps: DriftDeps) -> str:
    try:
        job = json.loads(body)
        run_id, mailbox, mode = str(job["runId"]), str(job["mailbox"]).lower(), str(job["mode"])
        source = job.get("source")
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidMessage(f"invalid drift job: {exc}") from None
    scope, deps = await _acting_in(delivery, deps)
    if not await deps.resources.is_active(mailbox):
        await _record(deps, run_id, mailbox, Counter(), Counter(), error="the resource opted out; not scanned")
        return "opted out"
    now = deps.clock()
    window = (now - timedelta(days=deps.settings.days_back), now + timedelta(days=deps.settings.drift.days_forward))
    listed = await deps.calendar.tagged_events(mailbox, start=window[0], end=window[1])
    rows = await deps.mappings.in_mailbox(mailbox)
    if source:
        listed = [e for e in listed if (k := parse_source_key(e.source_key)) is not None and k.source == source]
        rows = [r for r in rows if r.key.source == source]
    mapped = [_entry(row, deps.settings) for row in rows]
    findings = find_drift(mailbox, mapped, listed, window=window,
                          known_elsewhere=await _known_elsewhere(listed, rows, deps.mappings))
    found: Counter[str] = Counter(str(f.kind) for f in findings)
    with deps.telemetry.for_tenant(tenant_of(delivery)):
        for kind, count in sorted(found.items()):
            deps.telemetry.drift_found(kind, count)
    done: Counter[str] = Counter()
    if mode == "report":
        done["reported"] = len(findings)
    else:
        by_key = {row.key: row for row in rows}
        repairs = [m for f in findings
                   if (m := await _act(f, run_id, mailbox, by_key, deps, done, scope)) is not None]
        for start in range(0, len(repairs), 100):
            await deps.queue.send(PLANNING_QUEUE, repairs[start:start + 100])
    await _record(deps, run_id, mailbox, found, done)
    return f"drift: {sum(found.values())} found"


def _entry(row: Mapping, settings: Settings) -> MappedEntry:
    if not row.applied:
        return MappedEntry(row, None)
    with contextlib.suppress(ValueError):
        event = check_event(json.loads(row.applied), 0, settings.time_zone)
        if not isinstance(event, list):
            desired = desired_state(event, settings.time_zone, room_mode=settings.rooms.booking_mode)
            return MappedEntry(row, desired, event.type.split(".", 1)[0])
    return MappedEntry(row, None)


async def _known_elsewhere(listed: list[Any], rows: list[Mapping], mappings: MappingStore) -> frozenset[EntityKey]:
    """Keys of unmapped events here that have a row elsewhere (another mailbox, or a tombstone)."""
    mapped_ids = {row.event_id for row in rows}
    mapped_keys = {row.key for row in rows}
    keys = {k for e in listed if e.id not in mapped_ids and (k := parse_source_key(e.source_key)) is not None}
    return frozenset([k for k in keys - mapped_keys if await mappings.get(k) is not None])


async def _act(finding: Finding, run_id: str, mailbox: str, rows: dict[EntityKey, Mapping], deps: DriftDeps,
               done: Counter[str], scope: TenantId | None) -> OutboundMessage | None:
    """Adopt an orphan here (a row insert); else the repair message for the entity's session (of the tenant, as
    ingest names it, so a repair never competes with the entity's live sync)."""
    key = finding.key
    if finding.adopt and key is not None:
        try:
            await deps.mappings.save(rebuilt_mapping(key, mailbox, finding.event_id))
            done["adopted"] += 1
        except ConcurrencyConflict:
            done["skipped"] += 1  # live sync wrote the row meanwhile: it decides
        return None
    session = (tenant_queue_id(scope, key.subject, source_tag(key.source)) if key
               else tenant_queue_id(scope, "drift", mailbox))
    message_id = tenant_queue_id(scope, "drift", run_id, finding.kind, mailbox, finding.event_id)
    if finding.kind in ("deleted", "changed") and key is not None and rows[key].applied:
        done["restored"] += 1
        return OutboundMessage(body=str(rows[key].applied).encode("utf-8"), message_id=message_id,
                               session_id=session, application_properties=_in_tenant({
                                   DRIFT_PROPERTY: finding.kind, "source": key.source, "subject": key.subject}, scope))
    done["removed"] += 1
    body = {"mailbox": mailbox, "eventId": finding.event_id, "sourceKey": key.value if key else None}
    return OutboundMessage(body=json.dumps(body).encode("utf-8"), message_id=message_id, session_id=session,
                           content_type="application/json",
                           application_properties=_in_tenant({DRIFT_PROPERTY: "remove"}, scope))


async def _record(deps: DriftDeps, run_id: str, mailbox: str, found: Counter[str], done: Counter[str],
                  error: str | None = None) -> None:
    counts: dict[str, int] = {str(kind): found.get(kind, 0) for kind in DRIFT_KINDS}
    report = MailboxDrift(run_id, mailbox, deps.clock(), counts, dict(done), error)
    await deps.reports.record(report)
    # One structured line per mailbox and run: the counts are the metric connector.drift.found (by kind).
    logger.info("drift run %s mailbox %s: found %s; done %s", run_id, mailbox, json.dumps(counts),
                json.dumps(dict(done)), extra={"drift_run": run_id, "drift_found": counts, "drift_done": dict(done)})
