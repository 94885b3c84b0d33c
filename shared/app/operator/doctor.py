"""The doctor: checks a deployment in order and prints one line each, ✓ or ✗ with the exact fix.

    python -m entrypoints.doctor [--json] [--mailbox someone@contoso.com] [--tenant <id>]   (exit 1 on any ✗)
    GET /api/manage/doctor[?mailbox=...][&tenant=...]

With a tenant: its token (requested in its directory with its registered credential), its rooms, its dead letters.

Order: settings; a Graph token; the token's roles against the enabled features; access to mailboxes (the
one given, else a sample: the mailbox written most recently and each registered room, so an Exchange
access policy that blocks them shows); Key Vault and the credential's days left; Table Storage; Service Bus
(or the local queue); dead letters; each room subscription. No secret or token ever appears in the report.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from typing import Any

from shared.app.operator.deadletters import mailbox_address
from shared.app.operator.findings import (
    Check,
    DoctorDeps,
    Finding,
    Findings,
    assess_credential,
    assess_room,
    gather,
)
from shared.app.operator.tenant_report import in_tenant
from shared.app.responses import Reply, json_reply, problem
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
    """The checks, from one round of probes (``findings.gather``, the status's too) plus the doctor's own:
    the token's roles and each mailbox."""
    found = await gather(deps)
    checks = [Check("settings", True, "valid")]
    runtime = deps.credentials
    rooms: list[Any] = found.rooms.value or []
    token: Any = found.token.value
    if found.token.ok:
        checks.append(Check("token", True, found.token.detail))
    else:
        fix = runtime.provider.fix() if isinstance(found.token.error, ConnectorError) else None
        checks.append(Check("token", False, found.token.detail, fix))
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
    checks.append(assess_credential(deps, found).check)
    checks.append(_probe("table storage", found.table_storage,
                         "check TableStorage__endpoint (or TableStorage) and give the managed identity the "
                         "Storage Table Data Contributor role on the account"))
    checks.append(_probe("queue", found.queue,
                         "check ServiceBusConnection__fullyQualifiedNamespace and give the managed identity the "
                         "Azure Service Bus Data Sender and Data Receiver roles"))
    checks.extend(_dead_letters(found))
    checks.extend(assess_room(room, deps.clock()) for room in rooms)
    return checks


async def doctor_reply(deps: DoctorDeps, mailbox: str | None = None, tenant: str | None = None) -> Reply:
    scoped = await in_tenant(tenant, deps)
    if isinstance(scoped, Reply):
        return scoped
    deps = scoped
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
        last = await _last_mailbox(deps)
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


def _probe(name: str, finding: Finding, fix: str) -> Check:
    if finding.ok:
        return Check(name, True, "reachable")
    return Check(name, False, f"unreachable ({finding.detail})", fix)


def _dead_letters(found: Findings) -> list[Check]:
    dead = found.dead_letters.value
    if dead is None:
        return []
    fix = ("read the reasons: GET /api/manage/deadletters; after fixing the cause replay each: "
           "POST /api/manage/deadletters/{id}/replay")
    return [Check("dead letters", not dead, f"{len(dead)} message(s)", fix if dead else None)]


async def _last_mailbox(deps: DoctorDeps) -> str | None:
    if deps.tenant is not None:
        return None  # the sample is the deployment's, of any tenant: a tenant's report checks its rooms
    try:
        return await deps.mappings.last_mailbox()
    except Exception:
        return None


def _claims(token: str) -> dict[str, Any]:
    """The token's claims, read without checking its signature: Entra just issued it to us."""
    import jwt  # PyJWT and cryptography's x509: only the doctor needs them, not every cold start

    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
        return claims
    except jwt.PyJWTError:
        return {}


def report(checks: list[Check], *, as_json: bool) -> str:
    """The report as the command line prints it: one line each, or JSON."""
    if as_json:
        return json.dumps({"ok": all(c.ok for c in checks), "checks": [asdict(c) for c in checks]}, indent=2)
    return "\n".join(c.line() for c in checks)
