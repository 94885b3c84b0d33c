"""``rotate_all`` and the credential routes' ``?tenant=`` over fakes: each tenant rotated on its own (its vault,
its app, its lease, its state row), one tenant's failure reported for it alone."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from shared.app.credentials.runtime import LEASE_NAME, CredentialRuntime
from shared.app.credentials.tenants import (
    TenantCredentialDeps,
    credential_status_in,
    rotate_all,
    rotate_now_in,
)
from shared.domain.tenants.keys import tenant_key
from shared.domain.tenants.model import STOPPED, CredentialRef, Tenant, TenantId
from tests.fakes.credentials import FakeLease, FakeTenantCredentialRows
from tests.support.credential_fakes import CredentialWorld

DEFAULT = "0d0d0d0d-0000-4000-8000-000000000000"
A = TenantId("0a0a0a0a-1111-4111-8111-111111111111")
B = TenantId("0b0b0b0b-2222-4222-8222-222222222222")
C = TenantId("0c0c0c0c-3333-4333-8333-333333333333")


class Tenants:
    """The registry as the use case sees it, and a world (vault, app, Entra) per tenant sharing one lease."""

    def __init__(self, *tenants: Tenant) -> None:
        self.lease = FakeLease()
        self.rows = FakeTenantCredentialRows(self.lease)
        self.default = CredentialWorld(lease=self.lease)
        self.rows_of = {t.id: t for t in tenants}
        self.worlds = {t.id: CredentialWorld(lease=self.lease, clock=self.default.clock) for t in tenants}
        self.built: list[str] = []
        for world in [self.default, *self.worlds.values()]:
            secret = world.entra.add_existing("s3cr3t-of-a-person", end=world.clock() + timedelta(days=10))
            world.vault.add("graph-client-secret", "s3cr3t-of-a-person", tags={"keyId": secret.key_id})
        for tenant_id in self.worlds:
            ref = self.rows_of[tenant_id].credential
            if ref is not None and ref.secret_name:
                self.worlds[tenant_id].vault.add(ref.secret_name, "s3cr3t-of-a-person", tags={
                    "keyId": next(iter(self.worlds[tenant_id].entra.passwords))})

    def runtime_for(self, tenant: Tenant) -> CredentialRuntime:
        self.built.append(tenant.id)
        ref = tenant.credential
        assert ref is not None and ref.secret_name
        before, lifetime = ref.rotation_days(30, 180)
        runtime = self.worlds[tenant.id].runtime(client_secret_name=ref.secret_name, rotate_days_before=before,
                                                 lifetime_days=lifetime)
        return replace(runtime, tenant=tenant.id, state=self.rows.state_of(tenant.id))

    def deps(self) -> TenantCredentialDeps:
        async def registered() -> list[Tenant]:
            return list(self.rows_of.values())

        class Lookup:
            async def by_source(self, source: str) -> Tenant | None:
                return None

            async def by_id(inner, tenant_id: str) -> Tenant | None:  # noqa: N805
                return self.rows_of.get(TenantId(tenant_id))

        default = self.default.runtime()
        settings = replace(default.settings, tenant_id=DEFAULT)
        return TenantCredentialDeps(settings=settings, default=lambda: replace(default, settings=settings),
                                    registered=registered, runtime_for=self.runtime_for, tenants=Lookup())


def secret(tenant: TenantId, name: str, **policy: int) -> Tenant:
    return Tenant(tenant, tenant[:4], credential=CredentialRef("secret", name, **policy))


async def test_tenant_a_s_vault_failing_never_stops_b_s_rotation_nor_the_default_s() -> None:
    tenants = Tenants(secret(A, "a-graph-secret"), secret(B, "b-graph-secret", lifetime_days=60))
    tenants.worlds[A].vault.reachable = False

    results = {r.tenant: r.outcome for r in await rotate_all(tenants.deps())}

    assert results[None].action == "rotated"
    assert results[A].action == "failed" and "unreachable" in results[A].detail
    assert results[B].action == "rotated"
    # Each in its own app and vault: B's new password in B's app only, its policy's lifetime (60 days).
    b = tenants.worlds[B]
    assert b.vault.latest("b-graph-secret").tags["keyId"] == results[B].new_key_id
    assert results[B].new_key_id in b.entra.passwords and results[B].new_key_id not in tenants.default.entra.passwords
    assert b.entra.passwords[results[B].new_key_id].credential.end == b.clock() + timedelta(days=60)
    assert tenants.worlds[A].entra.added == []
    # Each state row its own: A's problem is not the default tenant's.
    assert (tenants.rows.state_of(A).state.problem or "").startswith("rotation failed")
    assert tenants.default.state.state.problem is None and tenants.rows.state_of(B).state.last_rotation


async def test_a_lease_per_tenant_the_default_tenant_s_name_unchanged() -> None:
    tenants = Tenants(secret(A, "a-graph-secret"), secret(B, "b-graph-secret"))
    await tenants.lease.acquire(tenant_key(A, LEASE_NAME), "another instance", tenants.default.clock(), 600)

    results = {r.tenant: r.outcome.action for r in await rotate_all(tenants.deps())}

    assert results == {None: "rotated", A: "busy", B: "rotated"}
    assert LEASE_NAME == "graph-credential" and tenants.default.runtime().lease_name == "graph-credential"
    assert tenant_key(B, LEASE_NAME) == f"{B} graph-credential"
    assert list(tenants.lease.holders) == [f"{A} graph-credential"]  # the others released theirs


async def test_federated_shared_stopped_and_a_broken_runtime_each_say_so() -> None:
    stopped = replace(secret(C, "c-graph-secret"), state=STOPPED)
    tenants = Tenants(Tenant(A, "fed", credential=CredentialRef("federated")),
                      secret(B, "graph-client-secret"), stopped)
    results = {r.tenant: r.outcome for r in await rotate_all(tenants.deps())}
    assert results[A].action == "nothing-to-rotate" and "federated" in results[A].detail
    assert results[B].action == "nothing-to-rotate" and "default tenant" in results[B].detail
    assert results[C].action == "skipped"
    assert tenants.built == []  # none of them needed a runtime

    broken = Tenants(secret(A, "a-graph-secret"), secret(B, "b-graph-secret"))
    original = broken.runtime_for

    def failing(tenant: Tenant) -> CredentialRuntime:
        if tenant.id == A:
            raise RuntimeError("no provider")
        return original(tenant)

    broken.runtime_for = failing  # type: ignore[method-assign]
    results = {r.tenant: r.outcome for r in await rotate_all(broken.deps())}
    assert results[A].action == "failed" and results[B].action == "rotated"


async def test_the_registry_failing_still_rotates_the_default_tenant() -> None:
    tenants = Tenants()
    deps = tenants.deps()

    async def unreachable() -> list[Tenant]:
        raise ConnectionError("tables unreachable")

    results = await rotate_all(replace(deps, registered=unreachable))
    assert [(r.tenant, r.outcome.action) for r in results] == [(None, "rotated"), ("*", "failed")]


async def test_the_routes_act_on_the_tenant_named_and_refuse_naming_the_parameter() -> None:
    stopped = replace(secret(C, "c-graph-secret"), state=STOPPED)
    tenants = Tenants(secret(A, "a-graph-secret"), secret(B, "graph-client-secret"), stopped)
    deps = tenants.deps()

    status = await credential_status_in(A, deps)
    document = json.loads(status.body)
    assert status.status == 200 and document["tenant"] == A and document["secretName"] == "a-graph-secret"
    assert json.loads((await credential_status_in(None, deps)).body)["tenant"] is None
    assert json.loads((await credential_status_in(DEFAULT, deps)).body)["tenant"] is None

    rotated = await rotate_now_in(A, deps, revoke_old=False)
    assert rotated.status == 200 and json.loads(rotated.body)["action"] == "rotated"
    assert tenants.default.entra.added == []  # the default tenant's app untouched

    for text, code in (("not-a-guid", 400), ("0e0e0e0e-4444-4444-8444-444444444444", 404), (C, 409), (B, 409)):
        refused = await rotate_now_in(text, deps, revoke_old=False)
        assert refused.status == code and json.loads(refused.body)["parameter"] == "tenant", text
    assert (await credential_status_in("nope", deps)).status == 400


async def test_a_purge_removes_the_tenant_s_state_row_and_lease() -> None:
    tenants = Tenants(secret(A, "a-graph-secret"))
    await rotate_all(tenants.deps())
    await tenants.lease.acquire(tenant_key(A, LEASE_NAME), "held", tenants.default.clock(), 600)
    await tenants.lease.acquire(LEASE_NAME, "held", tenants.default.clock(), 600)
    assert await tenants.rows.purge(A) == 2
    assert A not in tenants.rows.states and list(tenants.lease.holders) == [LEASE_NAME]
