"""The health endpoints: ``GET /api/health`` (liveness: no I/O) and ``GET /api/manage/status`` (one document with
each dependency's state, from the same round of probes as the doctor: ``findings.gather``).

The status is ``ok`` when every entry is, else ``degraded``; each entry has ``state`` (ok / failing),
``detail`` and ``checkedAt``. It carries names, dates and counts, never a secret or a token.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from shared.app.operator.findings import DoctorDeps, Findings, assess_credential, assess_room, gather
from shared.app.operator.gauges import tell_breakers, tell_queues
from shared.app.operator.tenant_report import in_tenant
from shared.app.ports.breakers import BreakerStore
from shared.app.ports.operator import QueueStats
from shared.app.responses import Reply, json_reply
from shared.domain.tenants.keys import tenant_of_key
from shared.schemas import openapi_document

__all__ = ["health_reply", "status_document", "status_reply", "version"]


def version() -> str:
    """The API's version (the OpenAPI document's, read once per process)."""
    return str(openapi_document()["info"]["version"])


def health_reply() -> Reply:
    """Liveness: the process answers. Touches nothing else."""
    return json_reply(200, {"status": "ok", "version": version()})


async def status_reply(deps: DoctorDeps, breakers: BreakerStore | None = None, tenant: str | None = None) -> Reply:
    """The status; with ``tenant``, that tenant's token, rooms and dead letters (400 malformed, 404 unknown)."""
    scoped = await in_tenant(tenant, deps)
    if isinstance(scoped, Reply):
        return scoped
    return json_reply(200, await status_document(scoped, breakers))


async def status_document(deps: DoctorDeps, breakers: BreakerStore | None = None) -> dict[str, Any]:
    found = await gather(deps)
    held = await _breakers(breakers, deps)
    _tell_gauges(deps, found)
    dependencies = {
        "tableStorage": found.table_storage.entry(),
        "queue": {**found.queue.entry(), "kind": "local" if deps.settings.queue.local_path else "service-bus"},
        "keyVault": found.vault.entry() if found.vault is not None else {"state": "not-configured"},
        "graphToken": {**found.token.entry(), "expiresOn": _token_expiry(found.token.value)},
    }
    rooms = [_room(room, deps) for room in (found.rooms.value or [])]
    credential = _credential(deps, found)
    queues = _queues(found)
    failing = (
        [name for name, entry in dependencies.items() if entry["state"] == "failing"]
        + (["rooms"] if not found.rooms.ok or any(r["state"] == "failing" for r in rooms) else [])
        + (["credential"] if credential["state"] == "failing" else [])
        + (["breakers"] if any(b["state"] != "closed" for b in held) else [])
    )
    return {
        "status": "degraded" if failing else "ok",
        "failing": failing,
        "version": version(),
        "checkedAt": found.checked_at.isoformat(timespec="seconds"),
        "dependencies": dependencies,
        "rooms": rooms,
        "credential": credential,
        "breakers": held,
        "queues": queues,
    }


def _tell_gauges(deps: DoctorDeps, found: Findings) -> None:
    """What the status read anyway refreshes the gauges the alerts read (the subscription timer does too)."""
    if found.dead_letters.ok:
        deps.telemetry.deadletters_open(len(found.dead_letters.value))
    if found.queue_stats.ok:
        tell_queues(found.queue_stats.value, deps.telemetry)


async def _breakers(store: BreakerStore | None, deps: DoctorDeps) -> list[dict[str, Any]]:
    """Each source whose mass-deletion breaker ever tripped: tripped (deletes held for an operator) or closed;
    ``unknown`` as one entry when the store cannot be read. The deployment's report lists every tenant's (another
    tenant's source led by its id, ``tenant_key``), one tenant's report only the tenant's."""
    if store is None:
        return []
    try:
        states = await store.list()
    except Exception as exc:  # the status reports a dependency it cannot read, it does not fail
        return [{"source": None, "state": "unknown", "detail": type(exc).__name__}]
    tell_breakers(states, deps.telemetry)
    if deps.tenant is not None:  # one tenant's report: its own breakers (the default tenant's keys are unscoped)
        scope = None if deps.tenant == (deps.settings.tenant_id or "").strip().lower() else deps.tenant
        keyed = [(tenant_of_key(s.source), s) for s in states]
        states = [replace(s, source=source) for (tenant, source), s in keyed if tenant == scope]
    return [{"source": s.source, "state": "tripped" if s.tripped else "closed",
             "since": _iso(s.since) if s.tripped else None, "reason": s.reason if s.tripped else None}
            for s in states]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def _token_expiry(token: Any) -> str | None:
    expires_on = getattr(token, "expires_on", None)  # azure-core's AccessToken: seconds since the epoch
    return _iso(datetime.fromtimestamp(expires_on, UTC)) if isinstance(expires_on, int | float) else None


def _room(room: Any, deps: DoctorDeps) -> dict[str, Any]:
    checked = assess_room(room, deps.clock())
    return {"email": room.email, "state": "ok" if checked.ok else "failing", "detail": checked.detail,
            "subscribedUntil": _iso(room.expires_at), "failingSince": _iso(room.failing_since),
            "reason": None if checked.ok else checked.detail}


def _credential(deps: DoctorDeps, found: Findings) -> dict[str, Any]:
    assessed = assess_credential(deps, found)
    checked = assessed.check
    state = found.credential_state.value
    paused = state is not None and state.unavailable_since is not None and (
        state.available_at is None or state.available_at < state.unavailable_since)
    return {
        "state": "ok" if checked.ok else "failing",
        "detail": checked.detail,
        "checkedAt": found.credential_state.checked_at.isoformat(timespec="seconds"),
        "kind": deps.settings.credential.kind,
        "expiresOn": _iso(assessed.expires_on),
        "daysLeft": assessed.days_left,
        "worker": {"state": "waiting-for-credential" if paused else "running",
                   "since": _iso(state.unavailable_since) if paused else None,
                   "reason": state.unavailable_reason if paused else None},
    }


def _queues(found: Findings) -> dict[str, Any]:
    """Each queue's depth and the age of its oldest message (``connector.queue.oldest_age_seconds``), and the
    connector's own dead-letter list. Figures that cannot be read are ``unknown``, not a failure: whether the
    queue works is the ``queue`` dependency's answer."""
    stats: list[QueueStats] = found.queue_stats.value or []
    dead = found.dead_letters.value
    return {
        **found.queue_stats.entry(),
        "state": "ok" if found.queue_stats.ok else "unknown",
        "value": [{"queue": s.queue, "active": s.active, "deadLettered": s.dead_lettered, "scheduled": s.scheduled,
                   "oldestAgeSeconds": s.oldest_age_seconds} for s in stats],
        "deadLetters": len(dead) if dead is not None else None,
    }
