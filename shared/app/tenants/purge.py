"""Purging a tenant: record that it was asked for, then empty each purgeable store of the tenant's rows.

The record comes first, so a purge cut short (a crash, a store that failed) is visible and can run again; each
store's purge is idempotent. The record names the stores emptied, so the work that keys more tables by tenant
adds its stores to the list and re-runs the purge for every recorded tenant.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from shared.app.ports.clock import Clock
from shared.app.ports.tenants import PurgeableStore, PurgeRecord, TenantStore
from shared.domain.tenants.model import TenantId

__all__ = ["purge_tenant"]

logger = logging.getLogger(__name__)


async def purge_tenant(tenant_id: TenantId, stores: Sequence[PurgeableStore], registry: TenantStore,
                       clock: Clock) -> PurgeRecord:
    """Remove the tenant's rows from every store; returns the record kept of it."""
    record = PurgeRecord(tenant_id, clock())
    await registry.record_purge(record)
    done: list[str] = []
    for store in stores:
        removed = await store.purge(tenant_id)
        logger.info("tenant %s: purged %d rows from %s", tenant_id, removed, store.purge_name)
        done.append(store.purge_name)
        record = PurgeRecord(tenant_id, record.requested_at, tuple(done))
        await registry.record_purge(record)
    return record
