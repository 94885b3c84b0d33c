"""In-memory credential ports with the real semantics that matter: vault versions (disabled, expired), Entra
accepting exactly the app's current passwords (optionally only after a few probes), addKey proofs verified
against the app's certificates, a lease that one holder wins. tests/contract runs the same suites against
these and the adapters (Key Vault simulator, Azurite)."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

from shared.app.ports.credentials import ApplicationInfo, CredentialState, NewPassword, SecretVersion
from shared.domain.credentials.policy import AppCredential
from shared.errors import CredentialUnavailable, Forbidden, RejectedByGraph

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class StoredVersion:
    version: SecretVersion
    enabled: bool = True


@dataclass
class FakeVault:
    versions: dict[str, list[StoredVersion]] = field(default_factory=dict)
    reachable: bool = True
    reads: int = 0
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def add(self, name: str, value: str, *, expires_on: datetime | None = None, enabled: bool = True,
            tags: Mapping[str, str] | None = None, content_type: str = "text/plain") -> SecretVersion:
        version = SecretVersion(name, f"v{next(self._ids)}", value, expires_on, None, content_type, dict(tags or {}))
        self.versions.setdefault(name, []).append(StoredVersion(version, enabled))
        return version

    async def current(self, name: str, now: datetime) -> SecretVersion:
        self.reads += 1
        if not self.reachable:
            raise CredentialUnavailable("Key Vault https://vault.example/ unreachable (ServiceRequestError)")
        for stored in reversed(self.versions.get(name, [])):
            expires = stored.version.expires_on
            if stored.enabled and (expires is None or expires > now):
                return stored.version
        raise CredentialUnavailable(f"Key Vault secret '{name}' has no enabled, unexpired version")

    async def put(self, name: str, value: str, *, content_type: str, expires_on: datetime | None,
                  tags: Mapping[str, str]) -> SecretVersion:
        return self.add(name, value, expires_on=expires_on, tags=tags, content_type=content_type)

    def latest(self, name: str) -> SecretVersion:
        return self.versions[name][-1].version

    async def close(self) -> None:
        pass


@dataclass
class Password:
    credential: AppCredential
    secret: str = field(repr=False)
    probes_until_valid: int = 0


@dataclass
class FakeEntra:
    """The app registration and Entra's token endpoint in one."""

    clock: Clock
    object_id: str = "0f0f0f0f-aaaa-bbbb-cccc-000000000001"
    passwords: dict[str, Password] = field(default_factory=dict)
    keys: dict[str, tuple[AppCredential, Any]] = field(default_factory=dict)  # key id → (credential, cert)
    may_write: bool = True
    new_password_delay: int = 0  # failed probes before a new password works
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    token_requests: int = 0

    def add_existing(self, secret: str, *, end: datetime, display_name: str = "added by a person",
                     start: datetime | None = None) -> AppCredential:
        credential = AppCredential(str(uuid.uuid4()), "password", display_name, start or self.clock() - timedelta(
            days=150), end, hint=secret[:3])
        self.passwords[credential.key_id] = Password(credential, secret)
        return credential

    def check(self, secret: str) -> str | None:
        self.token_requests += 1
        for password in self.passwords.values():
            if password.secret == secret:
                if password.probes_until_valid > 0:
                    password.probes_until_valid -= 1
                    return "AADSTS7000215"
                if password.credential.end and password.credential.end <= self.clock():
                    return "AADSTS7000222"
                return None
        return "AADSTS7000215"

    # ApplicationGateway
    async def get(self) -> ApplicationInfo:
        return ApplicationInfo(self.object_id, "app-id", tuple(p.credential for p in self.passwords.values()),
                               tuple(c for c, _ in self.keys.values()))

    async def add_password(self, display_name: str, end: datetime) -> NewPassword:
        if not self.may_write:
            raise Forbidden("the app may not manage its own credentials (Graph answered 403 "
                            "Authorization_RequestDenied); grant Application.ReadWrite.OwnedBy")
        await asyncio.sleep(0)  # let a concurrent rotation interleave here
        secret = f"new-{uuid.uuid4().hex}"
        credential = AppCredential(str(uuid.uuid4()), "password", display_name, self.clock(), end, hint=secret[:3])
        self.passwords[credential.key_id] = Password(credential, secret, self.new_password_delay)
        self.added.append(credential.key_id)
        return NewPassword(credential, secret)

    async def remove_password(self, key_id: str) -> None:
        if not self.may_write:
            raise Forbidden("403; grant Application.ReadWrite.OwnedBy")
        self.passwords.pop(key_id)
        self.removed.append(key_id)

    async def add_key(self, certificate_base64: str, display_name: str, proof: str) -> AppCredential:
        self._verify(proof)
        import base64

        from cryptography import x509

        certificate = x509.load_der_x509_certificate(base64.b64decode(certificate_base64))
        import hashlib

        thumb = hashlib.sha1(certificate.public_bytes(_der()), usedforsecurity=False).hexdigest().upper()
        credential = AppCredential(str(uuid.uuid4()), "certificate", display_name, self.clock(),
                                   certificate.not_valid_after_utc, thumbprint=thumb)
        self.keys[credential.key_id] = (credential, certificate)
        self.added.append(credential.key_id)
        return credential

    async def remove_key(self, key_id: str, proof: str) -> None:
        self._verify(proof)
        self.keys.pop(key_id)
        self.removed.append(key_id)

    def add_certificate(self, certificate: Any, display_name: str = "uploaded by a person") -> AppCredential:
        import hashlib

        thumb = hashlib.sha1(certificate.public_bytes(_der()), usedforsecurity=False).hexdigest().upper()
        credential = AppCredential(str(uuid.uuid4()), "certificate", display_name,
                                   certificate.not_valid_before_utc, certificate.not_valid_after_utc, thumbprint=thumb)
        self.keys[credential.key_id] = (credential, certificate)
        return credential

    def _verify(self, proof: str) -> None:
        import jwt

        for _, certificate in self.keys.values():
            try:
                claims = jwt.decode(proof, certificate.public_key(), algorithms=["RS256"],
                                    audience="00000002-0000-0000-c000-000000000000",
                                    options={"verify_exp": False, "verify_nbf": False})
            except jwt.PyJWTError:
                continue
            if claims.get("iss") == self.object_id:
                return
        raise RejectedByGraph("Graph answered 400 InvalidProof: the proof is not signed by a key of the app")

    async def close(self) -> None:
        pass


def _der() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


_TOKEN_SERIAL = itertools.count(1)


@dataclass
class FakeTokenCredential:
    """What azure-identity's credential does: Entra's answer for this secret (or certificate)."""

    check: Callable[[], str | None]
    roles: list[str] = field(default_factory=lambda: ["Calendars.ReadWrite", "Application.ReadWrite.OwnedBy"])
    closed: bool = False

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        import base64
        import json

        await asyncio.sleep(0)  # a real credential waits for Entra: other callers run meanwhile
        code = self.check()
        if code is not None:
            raise ClientAuthenticationError(message=f"Microsoft Entra ID error '(invalid_client) {code}: refused'")
        header, claims, signature = (
            base64.urlsafe_b64encode(part).decode().rstrip("=")
            for part in (b'{"alg": "RS256", "typ": "JWT"}', json.dumps({"roles": self.roles}).encode(),
                         f"signature{next(_TOKEN_SERIAL)}".encode()))
        return AccessToken(f"{header}.{claims}.{signature}", 4102444800)

    async def close(self) -> None:
        self.closed = True


@dataclass
class FakeFactory:
    entra: FakeEntra
    built: list[str] = field(default_factory=list)

    def secret(self, value: str) -> FakeTokenCredential:
        self.built.append("secret")
        return FakeTokenCredential(lambda: self.entra.check(value))

    def certificate(self, pem: bytes) -> FakeTokenCredential:
        from shared.domain.credentials.certificates import load_certificate

        thumb = load_certificate(pem).thumbprint_hex
        self.built.append("certificate")

        def check() -> str | None:
            self.entra.token_requests += 1
            ok = any(c.thumbprint == thumb and (c.end is None or c.end > self.entra.clock())
                     for c, _ in self.entra.keys.values())
            return None if ok else "AADSTS700027"
        return FakeTokenCredential(check)

    def federated(self) -> FakeTokenCredential:
        return FakeTokenCredential(lambda: None)


@dataclass
class FakeProbe:
    factory: FakeFactory

    async def secret_works(self, secret: str) -> str | None:
        return self.factory.entra.check(secret)

    async def certificate_works(self, pem: bytes) -> str | None:
        try:
            await self.factory.certificate(pem).get_token("s")
            return None
        except ClientAuthenticationError:
            return "AADSTS700027"


@dataclass
class FakeLease:
    holders: dict[str, tuple[str, datetime]] = field(default_factory=dict)

    async def acquire(self, name: str, holder: str, now: datetime, seconds: float) -> bool:
        await asyncio.sleep(0)
        current = self.holders.get(name)
        if current is not None and current[0] != holder and current[1] > now:
            return False
        self.holders[name] = (holder, now + timedelta(seconds=seconds))
        return True

    async def release(self, name: str, holder: str) -> None:
        if self.holders.get(name, ("",))[0] == holder:
            del self.holders[name]


@dataclass
class FakeState:
    state: CredentialState = field(default_factory=CredentialState)
    writes: int = 0

    async def get(self) -> CredentialState:
        return self.state

    async def update(self, **fields: Any) -> None:
        self.writes += 1
        self.state = CredentialState(**{**self.state.as_fields(), **fields})


@dataclass
class FakeTenantCredentialRows:
    """Each other tenant's credential state row, and (with the one lease) its purge: both keyed by tenant."""

    lease: FakeLease
    states: dict[str, FakeState] = field(default_factory=dict)
    purge_name: str = "credentials"

    def state_of(self, tenant: str) -> FakeState:
        return self.states.setdefault(tenant, FakeState())

    async def purge(self, tenant_id: str) -> int:
        gone = [name for name in self.lease.holders if name.startswith(f"{tenant_id} ")]
        for name in gone:
            del self.lease.holders[name]
        return len(gone) + (self.states.pop(tenant_id, None) is not None)
