"""What the credential features need from outside: Key Vault, the app registration in Graph, a token
probe, a lease and a small state record. Adapters implement these; unit tests use fakes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shared.domain.credentials.policy import AppCredential

__all__ = ["AccessToken", "ApplicationGateway", "ApplicationInfo", "CredentialProvider", "CredentialState",
           "CredentialStateStore", "NewPassword", "RotationLease", "SecretStore", "SecretVersion", "TokenProbe"]


@dataclass(frozen=True)
class SecretVersion:
    name: str
    version: str
    value: str = field(repr=False)
    expires_on: datetime | None = None
    created_on: datetime | None = None
    content_type: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


class SecretStore(Protocol):
    async def current(self, name: str, now: datetime) -> SecretVersion:
        """The newest enabled, unexpired version. Raises ``CredentialUnavailable`` (unreachable, none usable)."""
        ...

    async def put(self, name: str, value: str, *, content_type: str, expires_on: datetime | None,
                  tags: Mapping[str, str]) -> SecretVersion:
        """A new version. Raises ``CredentialUnavailable`` or ``Forbidden``."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class ApplicationInfo:
    object_id: str
    app_id: str
    passwords: tuple[AppCredential, ...] = ()
    keys: tuple[AppCredential, ...] = ()


@dataclass(frozen=True)
class NewPassword:
    credential: AppCredential
    secret_text: str = field(repr=False)


class ApplicationGateway(Protocol):
    """The connector's own app registration, ``/applications(appId='...')``. Raises ``Forbidden`` when
    the permission (or ownership) is missing, ``RejectedByGraph`` for a refused proof."""

    async def get(self) -> ApplicationInfo: ...

    async def add_password(self, display_name: str, end: datetime) -> NewPassword: ...

    async def remove_password(self, key_id: str) -> None: ...

    async def add_key(self, certificate_base64: str, display_name: str, proof: str) -> AppCredential: ...

    async def remove_key(self, key_id: str, proof: str) -> None: ...

    async def close(self) -> None: ...


class TokenProbe(Protocol):
    async def secret_works(self, secret: str) -> str | None:
        """None when a Graph token can be obtained with this secret, else Entra's error code."""
        ...

    async def certificate_works(self, pem: bytes) -> str | None: ...


class RotationLease(Protocol):
    async def acquire(self, name: str, holder: str, now: datetime, seconds: float) -> bool:
        """True for exactly one holder at a time (ETag-guarded), until it releases or the lease lapses."""
        ...

    async def release(self, name: str, holder: str) -> None: ...


@dataclass(frozen=True)
class CredentialState:
    """What every instance should know: the last rotation, the problem and its fix, the worker's pause."""

    expires_on: datetime | None = None
    key_id: str | None = None
    last_rotation: datetime | None = None
    last_checked: datetime | None = None
    problem: str | None = None
    fix: str | None = None
    last_warned: datetime | None = None
    unavailable_since: datetime | None = None
    unavailable_reason: str | None = None
    available_at: datetime | None = None

    def as_fields(self) -> dict[str, Any]:
        return dict(self.__dict__)


class CredentialStateStore(Protocol):
    async def get(self) -> CredentialState: ...

    async def update(self, **fields: Any) -> None:
        """Merge these fields (None clears one)."""
        ...


class AccessToken(Protocol):
    @property
    def token(self) -> str: ...


class CredentialProvider(Protocol):
    """The Graph credential the process uses (and the Graph session signs with), as the use cases see it."""

    @property
    def follows_vault(self) -> bool:
        """True when the credential is read from Key Vault (and a rotation is followed)."""
        ...

    @property
    def secret_name(self) -> str:
        """The Key Vault secret that holds the credential."""
        ...

    @property
    def last_success(self) -> datetime | None:
        """When a token was last obtained."""
        ...

    async def switch_to(self, version: SecretVersion) -> None:
        """Use this (just stored) version from now on."""
        ...

    async def check(self, *scopes: str) -> AccessToken:
        """A fresh token. Raises ``CredentialUnavailable`` with the reason."""
        ...

    def fix(self) -> str:
        """What an operator does to repair the credential."""
        ...

    async def close(self) -> None: ...
