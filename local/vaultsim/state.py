"""In-memory secrets of the vault simulator, shared by the HTTP handlers and in-process callers.

Key Vault semantics kept here: a secret is a list of versions, the latest is the last one set;
a disabled version refuses ``get`` (403 ``SecretDisabled``) but is listed and can be updated; an
expired or not-yet-valid version is still returned (``exp``/``nbf`` are informative only, the
client must check them). Names are case-insensitive and keep the case they were created with.
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

_NAME = re.compile(r"[0-9a-zA-Z-]{1,127}")
_NOT_FOUND_HELP = ("If you recently deleted this secret you may be able to recover it using the correct "
                   "recovery command. For help resolving this issue, please see "
                   "https://go.microsoft.com/fwlink/?linkid=2125182")


class VaultError(Exception):
    """Key Vault's error shape: ``{"error": {"code", "message", "innererror"?}}``."""

    def __init__(self, status: int, code: str, message: str, inner: str | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.inner = status, code, message, inner

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.inner:
            error["innererror"] = {"code": self.inner}
        return {"error": error}


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _epoch(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


@dataclass
class SecretVersion:
    name: str
    version: str
    value: str = field(repr=False)
    content_type: str | None
    enabled: bool
    not_before: datetime | None
    expires_on: datetime | None
    created: datetime
    updated: datetime
    tags: dict[str, str] | None

    def attributes(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {"enabled": self.enabled, "created": _epoch(self.created),
                                 "updated": _epoch(self.updated), "recoveryLevel": "Recoverable+Purgeable",
                                 "recoverableDays": 90}
        if self.not_before is not None:
            attrs["nbf"] = _epoch(self.not_before)
        if self.expires_on is not None:
            attrs["exp"] = _epoch(self.expires_on)
        return attrs

    def item(self, vault: str, with_version: bool = True) -> dict[str, Any]:
        """SecretItem: what lists show (never the value)."""
        ident = f"{vault}/secrets/{self.name}" + (f"/{self.version}" if with_version else "")
        body: dict[str, Any] = {"id": ident, "attributes": self.attributes()}
        if self.content_type is not None:
            body["contentType"] = self.content_type
        if self.tags is not None:
            body["tags"] = dict(self.tags)
        return body

    def bundle(self, vault: str, with_value: bool = True) -> dict[str, Any]:
        body = self.item(vault)
        return ({"value": self.value} | body) if with_value else body


class VaultState:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._secrets: dict[str, list[SecretVersion]] = {}  # lower-case name -> versions, oldest first
        self._requests: list[dict[str, Any]] = []
        self.outage: int | None = None
        self.allowed_principals: set[str] | None = None  # None: any token of the tenant

    # -- secrets
    def set_secret(self, name: str, value: str, *, content_type: str | None = None, enabled: bool = True,
                   not_before: datetime | None = None, expires_on: datetime | None = None,
                   tags: dict[str, str] | None = None) -> SecretVersion:
        if not _NAME.fullmatch(name):
            raise VaultError(400, "BadParameter", f"The request URI contains an invalid name: {name}")
        with self._lock:
            versions = self._secrets.setdefault(name.lower(), [])
            shown = versions[0].name if versions else name
            now = _now()
            version = SecretVersion(shown, uuid.uuid4().hex, str(value), content_type, bool(enabled),
                                    not_before, expires_on, now, now, dict(tags) if tags is not None else None)
            versions.append(version)
            return version

    def versions(self, name: str) -> list[SecretVersion]:
        with self._lock:
            versions = self._secrets.get(name.lower())
            if not versions:
                raise self._not_found(name)
            return list(versions)

    def names(self) -> list[str]:
        with self._lock:
            return [v[0].name for v in self._secrets.values() if v]

    def find(self, name: str, version: str | None = None) -> SecretVersion:
        """The version (latest when None or empty), disabled or not."""
        with self._lock:
            versions = self.versions(name)
            if not version:
                return versions[-1]
            for v in versions:
                if v.version == version.lower():
                    return v
            raise self._not_found(f"{name}/{version}")

    def get(self, name: str, version: str | None = None) -> SecretVersion:
        """What ``get secret`` answers: the version, unless it is disabled."""
        found = self.find(name, version)
        if not found.enabled:
            raise VaultError(403, "Forbidden", "Operation get is not allowed on a disabled secret.",
                             "SecretDisabled")
        return found

    def update(self, name: str, version: str | None = None, *, enabled: bool | None = None,
               not_before: datetime | None | bool = False, expires_on: datetime | None | bool = False,
               content_type: str | None | bool = False, tags: dict[str, str] | None | bool = False) -> SecretVersion:
        """Only what is given changes (``False`` = leave as is; ``None`` clears an attribute)."""
        with self._lock:
            v = self.find(name, version)
            if enabled is not None:
                v.enabled = bool(enabled)
            if not_before is not False:
                v.not_before = not_before  # type: ignore[assignment]
            if expires_on is not False:
                v.expires_on = expires_on  # type: ignore[assignment]
            if content_type is not False:
                v.content_type = content_type  # type: ignore[assignment]
            if tags is not False:
                v.tags = dict(tags) if isinstance(tags, dict) else None
            v.updated = _now()
            return v

    def disable(self, name: str, version: str | None = None) -> SecretVersion:
        return self.update(name, version, enabled=False)

    def enable(self, name: str, version: str | None = None) -> SecretVersion:
        return self.update(name, version, enabled=True)

    def expire(self, name: str, version: str | None = None) -> SecretVersion:
        """Set the version's expiry a second ago (still returned by get, as Key Vault does)."""
        return self.update(name, version, expires_on=_now() - timedelta(seconds=1))

    # -- faults and access
    def set_outage(self, status: int | None) -> None:
        """Answer every vault request with this status (503, 500...) until set back to None."""
        with self._lock:
            self.outage = None if status is None else int(status)

    def set_allowed_principals(self, principal_ids: list[str] | set[str] | None) -> None:
        """Only tokens whose oid is listed may use the vault (403 ForbiddenByRbac otherwise)."""
        with self._lock:
            self.allowed_principals = None if principal_ids is None else {p.lower() for p in principal_ids}

    # -- request log (method, path, status: never bodies or tokens)
    def log_request(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._requests.append(entry)

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._requests]

    def reset(self) -> None:
        with self._lock:
            self._secrets.clear()
            self._requests.clear()
            self.outage = None
            self.allowed_principals = None

    @staticmethod
    def _not_found(what: str) -> VaultError:
        return VaultError(404, "SecretNotFound",
                          f"A secret with (name/id) {what} was not found in this key vault. {_NOT_FOUND_HELP}")
