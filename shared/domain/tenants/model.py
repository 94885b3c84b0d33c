"""The tenant registry's values and their validation (pure).

A tenant is one Microsoft 365 organisation the connector serves: its directory id (a GUID), the CloudEvent
sources whose events belong to it, how the connector proves itself in it (a credential read from Key Vault, as
the credentials capability reads the default one) and what its administrator answered to the consent request.
The settings' tenant is the default tenant: it exists without a registry row and, until a row gives it sources of
its own, takes every source no registered tenant claims, so a single-tenant setup needs no change.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NewType

__all__ = ["ACTIVE", "CONSENT_STATUSES", "CREDENTIAL_KINDS", "STOPPED", "Consent", "CredentialRef", "Tenant",
           "TenantId", "TenantProblem", "owner_of_source", "parse_tenant", "parse_tenant_id", "source_conflicts"]

TenantId = NewType("TenantId", str)  # a directory id: a GUID, lower case, without braces

CREDENTIAL_KINDS = ("secret", "certificate", "federated")
ACTIVE, STOPPED = "active", "stopped"
CONSENT_STATUSES = ("unknown", "granted", "denied")
MAX_SOURCES = 100
_MAX_SOURCE = 700  # base64url of a source is a Table key elsewhere (at most 1 KiB)
_MAX_NAME = 256
_POLICY_MEMBERS = ("rotateDaysBefore", "lifetimeDays")


class TenantProblem(ValueError):
    """A request that cannot describe a tenant; ``pointer`` names the member (JSON Pointer)."""

    def __init__(self, pointer: str, detail: str) -> None:
        super().__init__(f"{pointer}: {detail}")
        self.pointer = pointer
        self.detail = detail


def parse_tenant_id(text: str) -> TenantId:
    """A directory id as the registry keeps it; ``TenantProblem`` unless ``text`` is a GUID."""
    try:
        value = uuid.UUID(text.strip())
    except (ValueError, AttributeError):
        raise TenantProblem("/tenantId", f"{text!r} is not a directory (tenant) id: a GUID is expected") from None
    if str(value) != text.strip().lower().strip("{}"):  # no urn:uuid:, no hex without dashes
        raise TenantProblem("/tenantId", f"{text!r} is not a directory (tenant) id in GUID form")
    return TenantId(str(value))


@dataclass(frozen=True)
class CredentialRef:
    """Which credential the connector uses in the tenant; the value stays in Key Vault under ``secret_name``
    (none for ``federated``, which exchanges the managed identity's token)."""

    kind: str
    secret_name: str | None = None
    # The tenant's own rotation policy (None: the settings'), for a credential the connector rotates.
    rotate_days_before: int | None = None
    lifetime_days: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "secretName": self.secret_name, "rotateDaysBefore": self.rotate_days_before,
                "lifetimeDays": self.lifetime_days}

    def rotation_days(self, days_before: int, lifetime_days: int) -> tuple[int, int]:
        """The days before expiry and the lifetime of the tenant's rotation, the given ones where it has none."""
        return (self.rotate_days_before or days_before, self.lifetime_days or lifetime_days)


@dataclass(frozen=True)
class Consent:
    """The administrator's last answer to the consent request, as Entra's redirect reported it."""

    status: str = "unknown"  # "unknown" | "granted" | "denied"
    at: datetime | None = None
    error: str | None = None
    description: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "at": self.at.isoformat(timespec="seconds") if self.at else None,
                "error": self.error, "description": self.description}


@dataclass(frozen=True)
class Tenant:
    id: TenantId
    display_name: str
    sources: tuple[str, ...] = ()
    credential: CredentialRef | None = None
    state: str = ACTIVE
    consent: Consent = field(default_factory=Consent)
    default: bool = False
    # The default tenant without sources of its own takes every source no other tenant claims.
    catch_all: bool = False
    etag: str | None = field(default=None, compare=False)

    @property
    def stopped(self) -> bool:
        return self.state == STOPPED

    @property
    def scope(self) -> TenantId | None:
        """What scopes this tenant's keys (``shared.domain.tenants.keys``): None for the default tenant, whose
        keys stay as they were before there were tenants."""
        return None if self.default else self.id


def _text(body: Mapping[str, Any], name: str, *, required: bool, limit: int) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise TenantProblem(f"/{name}", "must be a non-empty string")
    if len(value) > limit or any(not c.isprintable() for c in value):
        raise TenantProblem(f"/{name}", f"must be printable text of at most {limit} characters")
    return value.strip()


def _sources(body: Mapping[str, Any]) -> tuple[str, ...]:
    raw = body.get("sources", [])
    if not isinstance(raw, list):
        raise TenantProblem("/sources", "must be an array of CloudEvent sources")
    if len(raw) > MAX_SOURCES:
        raise TenantProblem("/sources", f"at most {MAX_SOURCES} sources per tenant")
    seen: list[str] = []
    for index, source in enumerate(raw):
        # A CloudEvent source is a URI-reference: no whitespace or control characters.
        if (not isinstance(source, str) or not source or len(source) > _MAX_SOURCE
                or any(c.isspace() or not c.isprintable() for c in source)):
            raise TenantProblem(f"/sources/{index}", f"must be a CloudEvent source (a URI-reference of at most "
                                                     f"{_MAX_SOURCE} characters)")
        if source in seen:
            raise TenantProblem(f"/sources/{index}", f"repeats {source!r}")
        seen.append(source)
    return tuple(seen)


def _secret_name(value: Any, pointer: str) -> str:
    # Key Vault object names: 1-127 letters, digits and dashes (as shared.config reads the default's).
    if not (isinstance(value, str) and 0 < len(value) <= 127
            and all(c.isascii() and (c.isalnum() or c == "-") for c in value)):
        raise TenantProblem(pointer, "must be a Key Vault secret name (1-127 letters, digits and dashes)")
    return value


def _days(raw: Mapping[str, Any], name: str, minimum: int, maximum: int) -> int | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise TenantProblem(f"/credential/{name}", f"must be a whole number of days from {minimum} to {maximum}")
    return value


def _credential(body: Mapping[str, Any]) -> CredentialRef:
    raw = body.get("credential")
    if not isinstance(raw, Mapping):
        raise TenantProblem("/credential", "must be an object {kind, secretName}")
    kind = raw.get("kind")
    if kind not in CREDENTIAL_KINDS:
        raise TenantProblem("/credential/kind", f"must be one of {', '.join(CREDENTIAL_KINDS)}")
    unknown = set(raw) - {"kind", "secretName", *_POLICY_MEMBERS}
    if unknown:
        raise TenantProblem(f"/credential/{sorted(unknown)[0]}", "is not a member of a tenant's credential")
    if kind == "federated":
        # A federated credential is the managed identity's token: there is no secret to name, nothing to rotate.
        for member in ("secretName", *_POLICY_MEMBERS):
            if raw.get(member) is not None:
                raise TenantProblem(f"/credential/{member}", "must be absent for a federated credential")
        return CredentialRef("federated")
    # The same bounds as the settings' CALENDAR_MSGRAPH_ROTATE_DAYS_BEFORE and ..._CREDENTIAL_LIFETIME_DAYS.
    before = _days(raw, "rotateDaysBefore", 1, 700)
    lifetime = _days(raw, "lifetimeDays", 2, 730)
    if before is not None and lifetime is not None and before >= lifetime:
        raise TenantProblem("/credential/rotateDaysBefore", f"must be less than lifetimeDays ({lifetime})")
    return CredentialRef(kind, _secret_name(raw.get("secretName"), "/credential/secretName"), before, lifetime)


def parse_tenant(tenant_id: str, body: Any) -> Tenant:
    """The tenant a ``PUT /api/manage/tenants/{tenantId}`` body describes. Raises ``TenantProblem``."""
    identifier = parse_tenant_id(tenant_id)
    if not isinstance(body, Mapping):
        raise TenantProblem("", "the body must be a JSON object")
    unknown = set(body) - {"displayName", "sources", "credential"}
    if unknown:
        raise TenantProblem(f"/{sorted(unknown)[0]}", "is not a member of a tenant")
    name = _text(body, "displayName", required=True, limit=_MAX_NAME)
    assert name is not None
    return Tenant(identifier, name, _sources(body), _credential(body))


def source_conflicts(candidate: Tenant, others: Iterable[Tenant]) -> list[tuple[str, Tenant]]:
    """Each source of ``candidate`` another tenant already has, with that tenant (sources are unique)."""
    return [(source, other) for other in others if other.id != candidate.id
            for source in candidate.sources if source in other.sources]


def owner_of_source(tenants: Iterable[Tenant], source: str) -> Tenant | None:
    """The tenant an event of ``source`` belongs to: the one whose sources name it, else the default tenant
    when it takes every unclaimed source, else none (the event is refused)."""
    catch_all: Tenant | None = None
    for tenant in tenants:
        if source in tenant.sources:
            return tenant
        if tenant.catch_all:
            catch_all = tenant
    return catch_all
