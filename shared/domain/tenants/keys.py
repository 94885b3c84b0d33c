"""Keys scoped to a tenant (pure): the one rule every store and queue id follows.

The default tenant's keys are what they always were, so a single-tenant deployment keeps its rows and needs no
migration. Any other tenant's key is its directory id, a space and the key. No key of the default tenant holds a
space: a CloudEvent source and a subject are refused with one at ingest (the planning contract), a mailbox, room
or organizer address has none, nor has base64url or a GUID; so a scoped key can never equal one of the default
tenant's. A queue id puts the tenant in front the same way (``queue_id`` keeps it within Service Bus's 128
characters).
"""

from __future__ import annotations

from shared.domain.queue_ids import queue_id
from shared.domain.tenants.model import TenantId

__all__ = ["TENANT_MARK", "tenant_key", "tenant_of_key", "tenant_queue_id"]

TENANT_MARK = " "


def tenant_key(tenant: TenantId | str | None, key: str) -> str:
    """``key`` for ``tenant``; None is the default tenant (its keys unchanged)."""
    return key if not tenant else f"{tenant}{TENANT_MARK}{key}"


def tenant_of_key(scoped: str) -> tuple[TenantId | None, str]:
    """The tenant and the key ``tenant_key`` made (None: the default tenant's key)."""
    head, mark, rest = scoped.partition(TENANT_MARK)
    if mark and len(head) == 36 and head.count("-") == 4:
        return TenantId(head), rest
    return None, scoped


def tenant_queue_id(tenant: TenantId | str | None, *parts: str) -> str:
    """A message or session id of the tenant: the default tenant's as before, another's led by its id."""
    return queue_id(*parts) if not tenant else queue_id(f"{tenant}{TENANT_MARK}", *parts)
