"""Drift runs: start one (the timer, or an operator for one mailbox or source) and read the last run's report.

Starting a run only queues one scan job per mailbox (``shared.app.planning.drift``) and answers; the
mailboxes come from the mapping rows and the resource settings. After Table Storage was lost neither knows
the mailboxes: the operator names each one (``?mailbox=``) and its mappings are rebuilt from its calendar.

A run is of one tenant: its mailboxes are those of its own mappings (and, for the default tenant, the resource
settings), its jobs carry it and its report is its own. The timer runs the default tenant, then each active
registered tenant, one tenant's failure logged and never stopping another's; an operator runs one (``?tenant=``).
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial

from shared.app.messaging import PLANNING_QUEUE, MessageQueue
from shared.app.operator.deadletters import mailbox_address
from shared.app.operator.tenant_scope import operator_acting_tenant, operator_tenant
from shared.app.planning.drift import scan_job
from shared.app.planning.tenancy import ScopedDriftReports, ScopedMappings
from shared.app.ports.clock import Clock
from shared.app.ports.planning import DriftReportStore, DriftRun, MappingStore, ResourceStore
from shared.app.ports.tenants import TenantLookup
from shared.app.responses import Reply, json_reply, problem
from shared.config import Settings
from shared.domain.tenants.model import Tenant
from shared.errors import ConfigurationError, TransientError

__all__ = ["DriftRunDeps", "drift_report", "request_drift_run", "start_drift_run", "start_drift_runs"]

logger = logging.getLogger(__name__)
_BATCH = 100


@dataclass(frozen=True)
class DriftRunDeps:
    settings: Settings
    mappings: MappingStore
    resources: ResourceStore
    reports: DriftReportStore
    queue: MessageQueue
    clock: Clock
    tenants: TenantLookup | None = None  # None: one tenant, the settings'
    registered: Callable[[], Awaitable[Sequence[Tenant]]] | None = None  # every registered tenant (None: none)


async def start_drift_run(deps: DriftRunDeps, *, trigger: str, mailbox: str | None = None,
                          source: str | None = None, tenant: Tenant | None = None) -> DriftRun:
    """Queue a scan of each mailbox of ``tenant`` (None: the default tenant; the one named, those of ``source``, or
    all) and record the run."""
    scope = tenant.scope if tenant is not None else None
    reports = ScopedDriftReports(deps.reports, scope)
    if mailbox is not None:
        mailboxes = [mailbox]
    else:
        known = set(await ScopedMappings(deps.mappings, scope).mailboxes(source))
        if source is None and scope is None:  # the resource settings are the default tenant's mailboxes
            known |= {r.mailbox for r in await deps.resources.list() if r.active}
        mailboxes = sorted(known)
    run = DriftRun(uuid.uuid4().hex, deps.clock(), trigger, deps.settings.drift.mode, len(mailboxes))
    await reports.start(run)
    jobs = [scan_job(run.run_id, m, run.mode, source, scope) for m in mailboxes]
    for start in range(0, len(jobs), _BATCH):
        await deps.queue.send(PLANNING_QUEUE, jobs[start:start + _BATCH])
    logger.info("drift run %s (%s, mode %s) of %s queued for %d mailbox(es)", run.run_id, trigger, run.mode,
                f"tenant {scope}" if scope else "the default tenant", len(jobs))
    return run


async def start_drift_runs(deps: DriftRunDeps, *, trigger: str) -> dict[str | None, DriftRun | None]:
    """The timer's run: the default tenant's, then each active registered tenant's (None: not queued)."""
    runs: dict[str | None, DriftRun | None] = {None: await _guarded(None, partial(start_drift_run, deps,
                                                                                trigger=trigger))}
    if deps.registered is None:
        return runs
    try:
        default = (deps.settings.tenant_id or "").strip().lower()
        tenants = [t for t in await deps.registered() if t.scope is not None and t.id != default]
    except Exception:  # the registry unreachable: the default tenant's run is queued, the others wait
        logger.exception("drift runs of the other tenants not queued: the tenant registry failed")
        return runs
    for tenant in sorted(tenants, key=lambda t: t.id):
        if tenant.stopped:
            logger.info("drift run of tenant %s skipped: the tenant is stopped", tenant.id)
            continue
        runs[tenant.id] = await _guarded(tenant.id, partial(start_drift_run, deps, trigger=trigger, tenant=tenant))
    return runs


async def _guarded(tenant: str | None, run: Callable[[], Awaitable[DriftRun]]) -> DriftRun | None:
    """One tenant's run; its failure (a store or the queue unreachable) is logged, never another tenant's."""
    try:
        return await run()
    except Exception:
        logger.exception("drift run of %s not queued", f"tenant {tenant}" if tenant else "the default tenant")
        return None


async def request_drift_run(deps: DriftRunDeps, *, mailbox: str | None, source: str | None,
                            tenant: str | None = None) -> Reply:
    """``POST /api/manage/drift/run[?mailbox=|?source=][&tenant=]``: 202 with the run's id; the scans run queued.
    ``tenant``: the run's tenant (absent: the default tenant); 400 malformed, 404 unknown, 409 stopped."""
    acting = await operator_acting_tenant(tenant, deps.settings.tenant_id, deps.tenants)
    if isinstance(acting, Reply):
        return acting
    if mailbox is not None and source is not None:
        return problem(400, "Invalid drift run", "name a mailbox or a source, not both")
    named = None
    if mailbox is not None:
        named = mailbox_address(mailbox)
        if named is None:
            return problem(400, "Invalid drift run", "mailbox must be an email address")
    if source is not None and not source.strip():
        return problem(400, "Invalid drift run", "source must not be empty")
    try:
        run = await start_drift_run(deps, trigger="operator", mailbox=named, source=source, tenant=acting)
    except (TransientError, ConfigurationError) as exc:
        logger.warning("drift run not queued: %s", exc)
        return problem(503, "Queue unavailable", "the drift run was not queued; retry later")
    return json_reply(202, run.as_dict())


async def drift_report(deps: DriftRunDeps, tenant: str | None = None) -> Reply:
    """``GET /api/manage/drift[?tenant=]``: the tenant's last run (the default tenant's when none is named; 400
    malformed, 404 unknown) and, per mailbox scanned so far, what it found and did."""
    scope = await operator_tenant(tenant, deps.settings.tenant_id, deps.tenants)
    if isinstance(scope, Reply):
        return scope
    deps = replace(deps, reports=ScopedDriftReports(deps.reports, scope))
    run = await deps.reports.last_run()
    if run is None:
        return json_reply(200, {"run": None, "found": {}, "done": {}, "mailboxes": []})
    reports = await deps.reports.reports(run.run_id)
    found: Counter[str] = Counter()
    done: Counter[str] = Counter()
    for report in reports:
        found.update(report.found)
        done.update(report.done)
    return json_reply(200, {"run": {**run.as_dict(), "scanned": len(reports)}, "found": dict(found),
                            "done": dict(done), "mailboxes": [r.as_dict() for r in reports]})
