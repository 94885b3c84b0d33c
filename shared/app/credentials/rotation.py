"""Rotation use case: the timer and ``POST /api/manage/credentials/rotate`` call ``rotate``.

secret: read the app's passwords; when the one in use is due, ``addPassword``, wait until Entra issues
a token with it, store it as a new Key Vault version (expiry, content type, keyId tag), switch, and
``removePassword`` our older ones after the grace period. certificate: the same with a new self-signed
certificate, ``addKey``/``removeKey`` authorised by a proof of possession (no directory permission).
One rotation at a time across instances: a lease row guarded by its ETag. When rotation is impossible
(no permission, no vault), a warning once a day from 60 days before expiry, with the fix.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.app.credentials.runtime import LEASE_NAME, CredentialRuntime
from shared.app.ports.credentials import SecretVersion
from shared.domain.credentials import certificates
from shared.domain.credentials.policy import (
    OWN_MARK,
    AppCredential,
    credentials_to_retire,
    days_left,
    display_name_for,
    identify_in_use,
    rotation_due,
    warning_due,
)
from shared.errors import ConnectorError, Forbidden, NotFound, RejectedByGraph, TransientError

__all__ = ["LEASE_NAME", "RotationOutcome", "rotate"]

logger = logging.getLogger(__name__)
metrics = logging.getLogger("shared.credentials.metrics")


@dataclass(frozen=True)
class RotationOutcome:
    action: str  # rotated | not-due | busy | impossible | nothing-to-rotate | skipped | failed
    detail: str
    expires_on: datetime | None = None
    new_key_id: str | None = None
    removed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"action": self.action, "detail": self.detail,
                "expiresOn": self.expires_on.isoformat() if self.expires_on else None,
                "newKeyId": self.new_key_id, "removed": self.removed}


async def rotate(runtime: CredentialRuntime, *, force: bool = False, revoke_old: bool = False) -> RotationOutcome:
    """One rotation run. Never raises for an expected problem: the outcome and the state say it."""
    kind = runtime.settings.credential.kind
    if kind == "federated":
        return RotationOutcome("nothing-to-rotate", "federated credentials hold no secret")
    if runtime.secrets is None:
        return await _impossible(runtime, None, "rotation needs the credential in Key Vault",
                                 "set CALENDAR_MSGRAPH_KEY_VAULT_URL and keep the client secret there")
    holder = uuid.uuid4().hex
    if not await runtime.lease.acquire(runtime.lease_name, holder, runtime.clock(),
                                       runtime.propagation_timeout.total_seconds() + 300):
        logger.info("credential rotation%s skipped: another instance is rotating", _of(runtime))
        return RotationOutcome("busy", "another instance is rotating the credential now")
    try:
        if kind == "certificate":
            return await _rotate_certificate(runtime, force=force, revoke_old=revoke_old)
        return await _rotate_secret(runtime, force=force, revoke_old=revoke_old)
    except ConnectorError as exc:
        logger.warning("credential rotation%s failed: %s", _of(runtime), exc)
        await runtime.state.update(problem=f"rotation failed: {exc}", last_checked=runtime.clock())
        return RotationOutcome("failed", str(exc))
    finally:
        await runtime.lease.release(runtime.lease_name, holder)


async def _rotate_secret(runtime: CredentialRuntime, *, force: bool, revoke_old: bool) -> RotationOutcome:
    assert runtime.secrets is not None
    name = runtime.settings.credential.client_secret_name
    now = runtime.clock()
    current = await runtime.secrets.current(name, now)
    try:
        app = await runtime.applications.get()
    except Forbidden as exc:
        return await _impossible(runtime, current.expires_on, "the app cannot read its own credentials", _fix(exc))
    in_use = identify_in_use(app.passwords, key_id=current.tags.get("keyId"), secret_hint=current.value[:3])
    end = in_use.end if in_use else current.expires_on
    policy = runtime.policy
    if not (force or rotation_due(end, now, policy)):
        removed = await _retire_passwords(runtime, app.passwords, in_use, revoke_old)
        return await _settled(runtime, "not-due", f"the client secret is valid for {days_left(end, now)} more days",
                              end, in_use, removed)
    try:
        new = await runtime.applications.add_password(display_name_for(now),
                                                        now + timedelta(days=policy.lifetime_days))
    except Forbidden as exc:
        return await _impossible(runtime, end, "the app may not add a client secret to itself", _fix(exc))
    if not await _works(runtime, lambda: runtime.probe.secret_works(new.secret_text)):
        await runtime.applications.remove_password(new.credential.key_id)
        raise TransientError("the new client secret did not work within the propagation timeout; removed it")
    stored = await runtime.secrets.put(name, new.secret_text, content_type="text/plain",
                                       expires_on=new.credential.end, tags=_tags(new.credential))
    await runtime.provider.switch_to(stored)
    logger.info("client secret rotated: new key id %s, valid until %s", new.credential.key_id, new.credential.end)
    removed = await _retire_passwords(runtime, [*app.passwords, new.credential], new.credential, revoke_old,
                                      previous=in_use)
    detail = "a new client secret is in use" + _unrevoked(revoke_old, in_use, "client secret")
    return await _settled(runtime, "rotated", detail, new.credential.end, new.credential, removed, rotated=True)


async def _rotate_certificate(runtime: CredentialRuntime, *, force: bool, revoke_old: bool) -> RotationOutcome:
    assert runtime.secrets is not None
    name = runtime.settings.credential.certificate_name
    now = runtime.clock()
    current_version = await runtime.secrets.current(name, now)
    current = certificates.load_certificate(current_version.value, current_version.content_type)
    tags = current_version.tags
    try:
        app = await runtime.applications.get()
        object_id, keys = app.object_id, list(app.keys)
    except Forbidden:
        # Rolling its own keys needs no permission, reading the registration does: use what the vault remembers.
        object_id, keys = tags.get("applicationObjectId", ""), _remembered_keys(current_version, current)
        if not object_id:
            return await _impossible(
                runtime, current.not_after, "the app's object id is unknown (it may not read its registration)",
                "tag the Key Vault secret with it: az keyvault secret set-attributes --vault-name <vault> "
                f"--name {name} --tags applicationObjectId=<Object ID from the app registration's Overview page>")
    in_use = next((k for k in keys if k.thumbprint == current.thumbprint_hex), None)
    end = min(filter(None, (current.not_after, in_use.end if in_use else None)))
    if end <= now:
        return await _impossible(runtime, end, "every certificate of the app has expired",
                                 "a person must upload a new certificate in Entra admin center > App registrations >"
                                 " the app > Certificates & secrets, and put it into Key Vault (PEM)")
    if not (force or rotation_due(end, now, runtime.policy)):
        removed = await _retire_keys(runtime, keys, in_use, current, object_id, revoke_old)
        return await _settled(runtime, "not-due", f"the certificate is valid for {days_left(end, now)} more days",
                              end, in_use, removed)
    new = certificates.generate_certificate(f"{OWN_MARK} {runtime.settings.client_id}", now,
                                            runtime.policy.lifetime_days)
    proof = certificates.proof_of_possession(current, object_id, now)
    added = await runtime.applications.add_key(new.public_key_base64, display_name_for(now), proof)
    if not await _works(runtime, lambda: runtime.probe.certificate_works(new.pem)):
        raise TransientError("the new certificate did not work within the propagation timeout")
    tags = {**_tags(added), "thumbprint": new.thumbprint_hex, "applicationObjectId": object_id}
    if in_use is not None and in_use.ours:
        tags["previousKeyId"] = in_use.key_id
    stored = await runtime.secrets.put(name, new.pem.decode("ascii"), content_type=certificates.PEM_CONTENT_TYPE,
                                       expires_on=new.not_after, tags=tags)
    await runtime.provider.switch_to(stored)
    logger.info("certificate rotated: new key id %s, thumbprint %s", added.key_id, new.thumbprint_hex)
    removed = await _retire_keys(runtime, [*keys, added], added, new, object_id, revoke_old, previous=in_use)
    detail = "a new certificate is in use" + _unrevoked(revoke_old, in_use, "certificate")
    return await _settled(runtime, "rotated", detail, new.not_after, added, removed, rotated=True)


async def _retire_passwords(runtime: CredentialRuntime, passwords: list[AppCredential] | tuple[AppCredential, ...],
                            in_use: AppCredential | None, revoke_old: bool, *,
                            previous: AppCredential | None = None) -> list[str]:
    removed = []
    for old in credentials_to_retire(passwords, in_use, runtime.clock(), runtime.policy, revoke_old=revoke_old,
                                     previous=previous):
        await runtime.applications.remove_password(old.key_id)
        logger.info("removed old client secret %s (%s)", old.key_id, _why(old, previous))
        removed.append(old.key_id)
    return removed


async def _retire_keys(runtime: CredentialRuntime, keys: list[AppCredential] | tuple[AppCredential, ...],
                       in_use: AppCredential | None, signer: certificates.LoadedCertificate, object_id: str,
                       revoke_old: bool, *, previous: AppCredential | None = None) -> list[str]:
    removed = []
    for old in credentials_to_retire(keys, in_use, runtime.clock(), runtime.policy, revoke_old=revoke_old,
                                     previous=previous):
        proof = certificates.proof_of_possession(signer, object_id, runtime.clock())
        try:
            await runtime.applications.remove_key(old.key_id, proof)
        except (RejectedByGraph, NotFound) as exc:
            logger.info("old certificate %s not removed (already gone?): %s", old.key_id, exc)
            continue
        logger.info("removed old certificate %s (%s)", old.key_id, _why(old, previous))
        removed.append(old.key_id)
    return removed


def _why(old: AppCredential, previous: AppCredential | None) -> str:
    if previous is not None and old.key_id == previous.key_id:
        return "the one in use before, revoked on request"
    return "created by the connector"


def _unrevoked(revoke_old: bool, previous: AppCredential | None, what: str) -> str:
    """With ``revoke_old`` but no known credential in use before: say so, a leaked one may still work."""
    if not revoke_old or previous is not None:
        return ""
    logger.warning("the %s in use before this rotation is not known in Entra; it was not revoked", what)
    return (f"; the {what} in use before could not be identified in the app registration, so it was not revoked:"
            f" remove it in Entra admin center > App registrations > the app > Certificates & secrets")


def _remembered_keys(version: SecretVersion, current: certificates.LoadedCertificate) -> list[AppCredential]:
    """The key credentials as the vault's tags remember them, for an app that may not read its registration."""
    tags = version.tags
    keys = [AppCredential(tags.get("keyId", "unknown"), "certificate",
                          OWN_MARK if tags.get("createdBy") == OWN_MARK else None,
                          current.not_before, current.not_after, thumbprint=current.thumbprint_hex)]
    if tags.get("previousKeyId"):
        keys.append(AppCredential(tags["previousKeyId"], "certificate", OWN_MARK))
    return keys


async def _works(runtime: CredentialRuntime, attempt: Callable[[], Awaitable[str | None]]) -> bool:
    """Poll until Entra issues a token with the new credential (it takes a while to work everywhere)."""
    budget, waited, wait = runtime.propagation_timeout.total_seconds(), 0.0, 1.0
    while True:
        error = await attempt()
        if error is None:
            return True
        if waited + wait > budget:
            return False
        logger.info("new credential not accepted yet (%s); waiting %.0f s", error, wait)
        await runtime.sleep(wait)
        waited += wait
        wait = min(wait * 2, 15.0)


async def _settled(runtime: CredentialRuntime, action: str, detail: str, end: datetime | None,
                   in_use: AppCredential | None, removed: list[str], *, rotated: bool = False) -> RotationOutcome:
    now = runtime.clock()
    fields: dict[str, object] = {"expires_on": end, "key_id": in_use.key_id if in_use else None,
                                 "last_checked": now, "problem": None, "fix": None}
    if rotated:
        fields["last_rotation"] = now
    await runtime.state.update(**fields)
    _metric(end, now, runtime)
    return RotationOutcome(action, detail, end, in_use.key_id if rotated and in_use else None, removed)


async def _impossible(runtime: CredentialRuntime, end: datetime | None, problem: str, fix: str) -> RotationOutcome:
    now = runtime.clock()
    state = await runtime.state.get()
    end = end or state.expires_on
    left = days_left(end, now)
    fields: dict[str, object] = {"problem": f"rotation impossible: {problem}", "fix": fix, "last_checked": now,
                                 "expires_on": end}
    if warning_due(end, now, state.last_warned, runtime.policy):
        logger.warning("Graph credential%s expires in %s days and cannot be rotated: %s. Fix: %s", _of(runtime),
                       left, problem, fix)
        fields["last_warned"] = now
    await runtime.state.update(**fields)
    _metric(end, now, runtime)
    return RotationOutcome("impossible", f"{problem}; {fix}", end)


def _metric(end: datetime | None, now: datetime, runtime: CredentialRuntime) -> None:
    left = days_left(end, now)
    if left is not None:
        # connector.credential.days_left, each tenant's credential its own series
        with runtime.telemetry.for_tenant(runtime.tenant):
            runtime.telemetry.credential_days_left(runtime.settings.credential.kind, left)
        # A log-based metric (Application Insights: customDimensions.metric); alert on it below 14.
        metrics.info("credential_days_left=%d", left, extra={"metric": "credential_days_left", "value": left,
                                                             "tenant": runtime.tenant})


def _of(runtime: CredentialRuntime) -> str:
    return f" of tenant {runtime.tenant}" if runtime.tenant else ""


def _fix(exc: Exception) -> str:
    text = str(exc)
    return text.split("; ", 1)[1] if "; " in text else text


def _tags(credential: AppCredential) -> dict[str, str]:
    return {"keyId": credential.key_id, "createdBy": OWN_MARK}



