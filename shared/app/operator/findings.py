"""What the doctor and the status read: every dependency probed once, all at once, each within a timeout, so a
hanging dependency makes its own entry fail and holds up nothing else.

A ``Finding`` keeps what a probe returned (a token, a secret version without its value, the rooms) for the
doctor's further checks; the status document takes only states, details and dates from it, never a secret.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from shared.app.credentials.runtime import CredentialRuntime
from shared.app.ports.clock import Clock
from shared.app.ports.credentials import CredentialProvider
from shared.app.ports.operator import HealthProbes
from shared.app.ports.planning import DeadLetterRecord, DeadLetterStore, MappingStore, ResourceStore
from shared.app.ports.rooms import Room, RoomStore
from shared.app.ports.telemetry import NO_TELEMETRY, Telemetry
from shared.app.ports.tenants import TenantLookup
from shared.config import Settings
from shared.domain.credentials.policy import days_left
from shared.domain.tenants.model import Tenant

__all__ = ["PROBE_TIMEOUT_SECONDS", "Check", "CredentialAssessment", "DoctorDeps", "Finding", "Findings",
           "assess_credential", "assess_room", "gather", "short"]

PROBE_TIMEOUT_SECONDS = 15.0  # above the SDKs' own retries (Key Vault gives up on a 503 after about 5 s)


@dataclass(frozen=True)
class DoctorDeps:
    settings: Settings
    credentials: CredentialRuntime
    mappings: MappingStore
    resources: ResourceStore
    deadletters: DeadLetterStore
    health: HealthProbes  # Table Storage, the queue and each mailbox, through the adapters
    rooms: RoomStore | None  # None: rooms are not wired in (nothing to check)
    clock: Clock
    probe_timeout: float = PROBE_TIMEOUT_SECONDS  # seconds each probe may take
    telemetry: Telemetry = NO_TELEMETRY  # the status tells the gauges what it read
    # One tenant's report (``tenant_report``): the tenant (None: the deployment's), how to find another tenant,
    # and its credential (a token requested in its directory).
    tenant: str | None = None
    tenants: TenantLookup | None = None
    tenant_credentials: Callable[[Tenant], CredentialProvider] | None = None


@dataclass(frozen=True)
class Finding:
    """One probe's outcome. ``value``: what it returned (for the doctor; never serialized); ``error``: why not."""

    ok: bool
    detail: str
    checked_at: datetime
    value: Any = field(default=None, repr=False)
    error: BaseException | None = field(default=None, repr=False)

    def entry(self) -> dict[str, Any]:
        return {"state": "ok" if self.ok else "failing", "detail": self.detail,
                "checkedAt": self.checked_at.isoformat(timespec="seconds")}


@dataclass(frozen=True)
class Findings:
    token: Finding  # value: the access token
    vault: Finding | None  # None: no Key Vault; value: the current SecretVersion, its value blanked
    credential_state: Finding  # value: CredentialState
    table_storage: Finding
    queue: Finding
    queue_stats: Finding  # value: list[QueueStats]
    rooms: Finding  # value: list[Room]
    dead_letters: Finding  # value: list[DeadLetterRecord]
    checked_at: datetime


async def gather(deps: DoctorDeps) -> Findings:
    """Probe every dependency concurrently, each within ``deps.probe_timeout`` seconds."""
    runtime, settings, health = deps.credentials, deps.settings, deps.health
    secrets = runtime.secrets
    rooms = deps.rooms

    async def vault() -> Any:
        assert secrets is not None
        current = await secrets.current(runtime.provider.secret_name, deps.clock())
        return replace(current, value="")

    async def room_list() -> list[Room]:
        return [] if rooms is None else list(await rooms.list())

    def observe(action: Callable[[], Awaitable[Any]], detail: Callable[[Any], str]) -> Awaitable[Finding]:
        return _observe(action, detail, deps)

    kind = settings.credential.kind
    probes = [
        observe(lambda: runtime.provider.check(*settings.scopes), lambda _: f"obtained with the {kind} credential"),
        observe(runtime.state.get, lambda _: "read"),
        observe(health.table_storage, lambda _: "reachable"),
        observe(health.queue, lambda _: "reachable"),
        observe(health.queue_stats, lambda stats: f"{len(stats)} queue(s) read" if stats else "not available"),
        observe(room_list, lambda found: f"{len(found)} room(s)"),
        observe(lambda: _dead_letters(deps), lambda found: f"{len(found)} message(s)"),
    ]
    if secrets is not None:
        probes.append(observe(vault, lambda v: f"secret '{v.name}' version {v.version}"))
    token, state, tables, queue, stats, room_found, dead, *vault_found = await asyncio.gather(*probes)
    return Findings(token=token, vault=vault_found[0] if vault_found else None, credential_state=state,
                    table_storage=tables, queue=queue, queue_stats=stats, rooms=room_found, dead_letters=dead,
                    checked_at=deps.clock())


async def _dead_letters(deps: DoctorDeps) -> list[DeadLetterRecord]:
    """Every dead letter, or one tenant's (a record that names none is the default tenant's)."""
    found = await deps.deadletters.list()
    if deps.tenant is None:
        return found
    default = (deps.settings.tenant_id or "").strip().lower()
    return [r for r in found if (r.tenant or default).lower() == deps.tenant]


async def _observe(action: Callable[[], Awaitable[Any]], detail: Callable[[Any], str], deps: DoctorDeps) -> Finding:
    try:
        value = await asyncio.wait_for(action(), deps.probe_timeout)
    except TimeoutError as exc:
        return Finding(False, f"no answer within {deps.probe_timeout:g} s", deps.clock(), error=exc)
    except Exception as exc:
        return Finding(False, short(exc), deps.clock(), error=exc)
    return Finding(True, detail(value), deps.clock(), value=value)


# -- what the doctor and the status conclude from the findings


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None

    def line(self) -> str:
        return f"{'✓' if self.ok else '✗'} {self.name}: {self.detail}" + (f"\n    fix: {self.fix}" if self.fix else "")


@dataclass(frozen=True)
class CredentialAssessment:
    check: Check
    expires_on: datetime | None = None
    days_left: int | None = None


def assess_credential(deps: DoctorDeps, findings: Findings) -> CredentialAssessment:
    """The Graph credential: federated (nothing expires), an app setting, or a Key Vault secret with its days
    left and the problem rotation recorded."""
    runtime = deps.credentials
    credential = deps.settings.credential
    state = findings.credential_state.value
    now = deps.clock()
    if credential.kind == "federated":
        return CredentialAssessment(Check("credential", True, "federated: no secret to expire or rotate"))
    if findings.vault is None:
        end = state.expires_on if state is not None else None
        return CredentialAssessment(Check("credential", True, "client secret from the app setting (not rotated; "
                                          "Key Vault recommended: set CALENDAR_MSGRAPH_KEY_VAULT_URL)"),
                                    end, days_left(end, now))
    if not findings.vault.ok:
        return CredentialAssessment(Check("key vault", False, findings.vault.detail, runtime.provider.fix()))
    current = findings.vault.value
    end = state.expires_on if state is not None and state.expires_on else current.expires_on
    left = days_left(end, now)
    detail = f"{credential.key_vault_url} secret '{current.name}' version {current.version}" + (
        f", {left} day(s) left" if left is not None else "")
    if state is not None and state.problem:
        return CredentialAssessment(Check("key vault", False, f"{detail}; {state.problem}", state.fix), end, left)
    if left is not None and left < 0:
        return CredentialAssessment(Check("key vault", False, f"{detail}: expired", runtime.provider.fix()), end, left)
    return CredentialAssessment(Check("key vault", True, detail), end, left)


def assess_room(room: Room, now: datetime) -> Check:
    email, expires = room.email, room.expires_at
    if not room.subscription_id or room.failure:
        return Check(f"room {email}", False, room.failure or "no subscription",
                     f"POST /api/manage/rooms/{email} to subscribe again, after fixing the cause")
    if expires is not None and expires <= now:
        return Check(f"room {email}", False, "subscription expired",
                     f"check that the renew_subscriptions timer runs; POST /api/manage/rooms/{email} re-subscribes")
    until = expires.isoformat(timespec="minutes") if expires else "?"
    return Check(f"room {email}", True, f"subscribed until {until}")


def short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:400]
