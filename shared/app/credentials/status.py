"""Operator API for credentials: ``GET /api/manage/credentials`` and ``POST .../rotate[?revokeOld=true]``
(``revokeOld``: after a leak, the credential that was in use is removed at once, whoever created it).

The status is built from the shared state (last rotation, problem, the worker's pause) and the vault's
metadata of the version in use; it carries key ids and dates, never a secret value.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared.app.credentials.rotation import rotate
from shared.app.credentials.runtime import CredentialRuntime
from shared.app.responses import Reply, json_reply
from shared.domain.credentials.policy import days_left, next_rotation
from shared.errors import ConnectorError

__all__ = ["credential_status", "rotate_now"]

# A pause recorded longer ago than this, with nothing since, is reported as stale rather than current.
_PAUSE_FRESH = timedelta(minutes=10)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


async def credential_status(runtime: CredentialRuntime) -> Reply:
    return json_reply(200, await status_document(runtime))


async def status_document(runtime: CredentialRuntime) -> dict[str, Any]:
    settings = runtime.settings.credential
    now = runtime.clock()
    state = await runtime.state.get()
    provider = runtime.provider
    source = "key-vault" if provider.follows_vault else ("managed-identity" if settings.kind == "federated"
                                                       else "app-setting")
    expires_on, key_id, version, problem = state.expires_on, state.key_id, None, state.problem
    if provider.follows_vault and runtime.secrets is not None:
        try:
            current = await runtime.secrets.current(provider.secret_name, now)
            version, key_id = current.version, current.tags.get("keyId") or key_id
            expires_on = expires_on if state.key_id and state.key_id == key_id else (current.expires_on or expires_on)
            if settings.kind == "certificate":
                from shared.domain.credentials.certificates import load_certificate

                not_after = load_certificate(current.value, current.content_type).not_after
                expires_on = min(expires_on, not_after) if expires_on else not_after
        except (ConnectorError, ValueError) as exc:
            problem = str(exc)
    paused = state.unavailable_since is not None and (state.available_at is None
                                                      or state.available_at < state.unavailable_since)
    document: dict[str, Any] = {
        "tenant": runtime.tenant,
        "kind": settings.kind,
        "source": source,
        "keyVault": settings.key_vault_url,
        "secretName": provider.secret_name if settings.kind != "federated" else None,
        "version": version,
        "keyId": key_id,
        "expiresOn": _iso(expires_on),
        "daysLeft": days_left(expires_on, now),
        "lastRotation": _iso(state.last_rotation),
        "nextRotation": _iso(next_rotation(expires_on, runtime.policy)) if settings.kind != "federated" else None,
        "lastChecked": _iso(state.last_checked),
        "problem": {"summary": problem, "fix": state.fix} if problem else None,
        "worker": {
            "state": "waiting-for-credential" if paused else "running",
            "since": _iso(state.unavailable_since) if paused else None,
            "reason": state.unavailable_reason if paused else None,
            "stale": bool(paused and state.unavailable_since and now - state.unavailable_since > _PAUSE_FRESH
                          and provider.last_success is not None and provider.last_success > state.unavailable_since),
        },
        "rotation": {"daysBefore": settings.rotate_days_before, "lifetimeDays": settings.lifetime_days,
                     "graceHours": settings.grace_hours, "schedule": settings.rotate_schedule},
    }
    return document


async def rotate_now(runtime: CredentialRuntime, *, revoke_old: bool) -> Reply:
    """Rotate at once (after a leak, with ``revoke_old``: the old credential goes at once too)."""
    outcome = await rotate(runtime, force=True, revoke_old=revoke_old)
    status = {"rotated": 200, "busy": 409, "impossible": 409, "nothing-to-rotate": 200, "failed": 503}.get(
        outcome.action, 200)
    return json_reply(status, {**outcome.as_dict(), "status": await status_document(runtime)})
