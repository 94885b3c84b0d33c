"""The doctor: checks a deployment in order and prints one line each, ✓ or ✗ with the exact fix.

    python -m entrypoints.doctor [--json] [--mailbox someone@contoso.com]     (exit 1 on any ✗)
    GET /api/manage/doctor[?mailbox=...]

Order: settings; a Graph token; the token's roles against the enabled features; access to mailboxes (the
one given, else a sample: the mailbox written most recently and each registered room, so an Exchange
access policy that blocks them shows); Key Vault and the credential's days left; Table Storage; Service Bus
(or the local queue); dead letters; each room subscription. No secret or token ever appears in the report.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

import jwt

from shared.app.credentials.runtime import CredentialRuntime
from shared.app.operator.deadletters import mailbox_address
from shared.app.ports.clock import Clock
from shared.app.ports.operator import HealthProbes
from shared.app.ports.planning import DeadLetterStore, MappingStore, ResourceStore
from shared.app.ports.rooms import RoomStore
from shared.app.responses import Reply, json_reply, problem
from shared.config import Settings
from shared.errors import ConnectorError

__all__ = ["Check", "DoctorDeps", "doctor_reply", "report", "run_checks"]

CONSENT = ("Entra admin center > App registrations > the app > API permissions > Add a permission > Microsoft Graph "
           "> Application permissions > {role}, then Grant admin consent")
ACCESS_POLICY = ("an Exchange application access policy or RBAC for Applications excludes it: check with "
                 "Test-ApplicationAccessPolicy -Identity {mailbox} -AppId {app} (or "
                 "Test-ServicePrincipalAuthorization); add the mailbox to the policy's group "
                 "(New-ApplicationAccessPolicy -AccessRight RestrictAccess "
                 "-PolicyScopeGroupId <group>) or to the management scope of New-ManagementRoleAssignment "
                 "-Role \"Application Calendars.ReadWrite\"")


_MAILBOX_CONCURRENCY = 4  # mailbox checks in flight at once (a deployment may have many rooms)


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


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None

    def line(self) -> str:
        return f"{'✓' if self.ok else '✗'} {self.name}: {self.detail}" + (f"\n    fix: {self.fix}" if self.fix else "")


def required_roles(deps: DoctorDeps, rooms: list[Any]) -> dict[str, str]:
    settings = deps.settings
    roles = {"Calendars.ReadWrite": "writing calendars"}
    if settings.lookup_principal_name:
        roles["User.Read.All"] = "CALENDAR_MSGRAPH_LOOKUP_PRINCIPAL_NAME"
    if rooms:
        roles["Place.Read.All"] = "rooms"
    if settings.credential.kind == "secret" and settings.credential.key_vault_url:
        roles["Application.ReadWrite.OwnedBy"] = "secret rotation"
    return roles


async def run_checks(deps: DoctorDeps, *, mailbox: str | None = None) -> list[Check]:
    checks = [Check("settings", True, "valid")]
    runtime = deps.credentials
    settings = deps.settings
    rooms = await _quiet(_rooms(deps), [])
    token: Any = None
    try:
        token = await runtime.provider.check(*settings.scopes)
        checks.append(Check("token", True, f"obtained with the {settings.credential.kind} credential"))
    except Exception as exc:
        fix = runtime.provider.fix() if isinstance(exc, ConnectorError) else None
        checks.append(Check("token", False, _short(exc), fix))
    if token is not None:
        roles = set(_claims(token.token).get("roles") or [])
        missing = {r: why for r, why in required_roles(deps, rooms).items() if r not in roles}
        if missing:
            owner = ("; for rotation also make the app's service principal an owner of its own registration "
                     "(az ad app owner add --id <appId> --owner-object-id <service principal object id>)"
                     if "Application.ReadWrite.OwnedBy" in missing else "")
            detail = "missing " + ", ".join(f"{r} (for {w})" for r, w in missing.items())
            fix = "; ".join(CONSENT.format(role=r) for r in missing) + owner
            checks.append(Check("permissions", False, detail, fix))
        else:
            checks.append(Check("permissions", True, ", ".join(sorted(required_roles(deps, rooms)))))
        if "Calendars.ReadWrite" not in missing:  # else the mailbox fails for the reason just given
            checks.extend(await _mailboxes(deps, token.token, mailbox, rooms))
    checks.append(await _vault(deps))
    probes = deps.health
    checks.append(await _probe("table storage", probes.table_storage,
                               "check TableStorage__endpoint (or TableStorage) and give the managed identity the "
                               "Storage Table Data Contributor role on the account"))
    checks.append(await _probe("queue", probes.queue,
                               "check ServiceBusConnection__fullyQualifiedNamespace and give the managed identity the "
                               "Azure Service Bus Data Sender and Data Receiver roles"))
    dead = await _quiet(deps.deadletters.list(), None)
    if dead is not None:
        fix = ("read the reasons: GET /api/manage/deadletters; after fixing the cause replay each: "
               "POST /api/manage/deadletters/{id}/replay")
        checks.append(Check("dead letters", not dead, f"{len(dead)} message(s)", fix if dead else None))
    for room in rooms:
        checks.append(_room(room, deps))
    return checks


async def doctor_reply(deps: DoctorDeps, mailbox: str | None = None) -> Reply:
    if mailbox is not None:
        checked = mailbox_address(mailbox)
        if checked is None:
            return problem(400, "Invalid mailbox", f"mailbox must be an email address, not {mailbox!r}")
        mailbox = checked
    checks = await run_checks(deps, mailbox=mailbox)
    return json_reply(200, {"ok": all(c.ok for c in checks), "checks": [asdict(c) for c in checks]})


# -- the checks


async def _mailboxes(deps: DoctorDeps, token: str, mailbox: str | None, rooms: list[Any]) -> list[Check]:
    """One check per mailbox: the one given, else the one written most recently and each room."""
    if mailbox is not None:
        sample = [mailbox]
    else:
        last = await _quiet(deps.mappings.last_mailbox(), None)
        sample = list(dict.fromkeys(m.lower() for m in [last, *(getattr(r, "email", None) for r in rooms)] if m))
    if not sample:
        return [Check("mailbox", True, "no mailbox written yet and no room registered: nothing to check "
                                       "(pass --mailbox or ?mailbox=)")]
    gate = asyncio.Semaphore(_MAILBOX_CONCURRENCY)
    
    async def check(name: str) -> Check:
        async with gate:
            return await _mailbox(deps, token, name)
    return list(await asyncio.gather(*(check(name) for name in sample)))


async def _mailbox(deps: DoctorDeps, token: str, mailbox: str) -> Check:
    answer = await deps.health.mailbox(mailbox, token)
    if answer.status is None:
        return Check("mailbox", False, f"{mailbox}: Graph unreachable ({answer.code})",
                     "check CALENDAR_MSGRAPH_GRAPH_ENDPOINT and outbound network access")
    if answer.status == 200:
        return Check("mailbox", True, f"{mailbox}: calendar reachable")
    if answer.status == 403:
        return Check("mailbox", False, f"{mailbox}: 403 {answer.code}",
                     ACCESS_POLICY.format(mailbox=mailbox, app=deps.settings.client_id))
    if answer.status == 404:
        return Check("mailbox", False, f"{mailbox}: 404 {answer.code}",
                     "check the address: no such mailbox in the tenant")
    return Check("mailbox", False, f"{mailbox}: {answer.status} {answer.code}", None)


async def _vault(deps: DoctorDeps) -> Check:
    from shared.domain.credentials.policy import days_left

    runtime = deps.credentials
    credential = deps.settings.credential
    state = await _quiet(runtime.state.get(), None)
    now = deps.clock()
    if credential.kind == "federated":
        return Check("credential", True, "federated: no secret to expire or rotate")
    if runtime.secrets is None:
        return Check("credential", True, "client secret from the app setting (not rotated; Key Vault recommended: "
                     "set CALENDAR_MSGRAPH_KEY_VAULT_URL)")
    try:
        current = await runtime.secrets.current(runtime.provider.secret_name, now)
    except ConnectorError as exc:
        return Check("key vault", False, _short(exc), runtime.provider.fix())
    end = state.expires_on if state is not None and state.expires_on else current.expires_on
    left = days_left(end, now)
    detail = f"{credential.key_vault_url} secret '{current.name}' version {current.version}" + (
        f", {left} day(s) left" if left is not None else "")
    if state is not None and state.problem:
        return Check("key vault", False, f"{detail}; {state.problem}", state.fix)
    if left is not None and left < 0:
        return Check("key vault", False, f"{detail}: expired", runtime.provider.fix())
    return Check("key vault", True, detail)


def _room(room: Any, deps: DoctorDeps) -> Check:
    email = getattr(room, "email", "?")
    expires = getattr(room, "expires_at", None)
    failure = getattr(room, "failure", None)
    if not getattr(room, "subscription_id", None) or failure:
        return Check(f"room {email}", False, failure or "no subscription",
                     f"POST /api/manage/rooms/{email} to subscribe again, after fixing the cause")
    if expires is not None and expires <= deps.clock():
        return Check(f"room {email}", False, "subscription expired",
                     "check that the renew_subscriptions timer runs; POST /api/manage/rooms/{email} re-subscribes")
    return Check(f"room {email}", True, f"subscribed until {expires.isoformat(timespec='minutes') if expires else '?'}")




async def _rooms(deps: DoctorDeps) -> list[Any]:
    if deps.rooms is None:
        return []
    return list(await deps.rooms.list())


async def _probe(name: str, action: Callable[[], Awaitable[Any]], fix: str) -> Check:
    try:
        await action()
        return Check(name, True, "reachable")
    except Exception as exc:
        return Check(name, False, f"unreachable ({_short(exc)})", fix)


async def _quiet(awaitable: Awaitable[Any], default: Any) -> Any:
    try:
        return await awaitable
    except Exception:
        return default


def _claims(token: str) -> dict[str, Any]:
    """The token's claims, read without checking its signature: Entra just issued it to us."""
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
        return claims
    except jwt.PyJWTError:
        return {}


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:400]


def report(checks: list[Check], *, as_json: bool) -> str:
    """The report as the command line prints it: one line each, or JSON."""
    if as_json:
        return json.dumps({"ok": all(c.ok for c in checks), "checks": [asdict(c) for c in checks]}, indent=2)
    return "\n".join(c.line() for c in checks)
