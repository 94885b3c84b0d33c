"""End to end, tenants: two customer organisations registered through the operator routes (onboarded through the
consent link and its callback), each with its own source, mailboxes and credential in the Key Vault. Tenant A's
mailbox is flooded with 429s and then its credential is revoked, while tenant B's events land; A's land once it
is restored; and no mailbox is ever written with another tenant's token.

Waits are on states (what landed, what the simulator answered), never on durations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from local.demo_tenants import Customer, onboard, planned
from local.stack import LocalStack
from tests.e2e.conftest import dead_letters_of, wait_for

pytestmark = pytest.mark.e2e


def client_id(stack: LocalStack) -> str:
    return stack.env["CALENDAR_MSGRAPH_CLIENT_ID"]


def subjects(stack: LocalStack, customer: Customer) -> list[str]:
    return sorted(e["subject"] for e in stack.calendar(customer.mailbox))


def answers(stack: LocalStack, customer: Customer, status: int) -> int:
    """How many of Graph's answers for the customer's mailbox had that status."""
    assert stack.simulator is not None
    user = stack.simulator.state.find_user(customer.mailbox)
    assert user is not None
    return sum(1 for r in stack.simulator.state.requests() if r["mailbox"] == user["id"] and r["status"] == status)


@pytest.fixture
def two(stack: LocalStack) -> Iterator[tuple[Customer, Customer]]:
    customers = (onboard(stack, "fabrikam"), onboard(stack, "tailspin"))
    for customer in customers:
        assert stack.admin("GET", f"/api/manage/tenants/{customer.tenant}").json()["consent"]["status"] == "granted"
    yield customers
    for customer in customers:
        stack.admin("DELETE", f"/api/manage/tenants/{customer.tenant}", params={"purge": "true"})


class TestIsolation:
    def test_a_throttled_then_revoked_tenant_waits_while_the_other_lands_then_lands_itself(
            self, stack: LocalStack, two: tuple[Customer, Customer]) -> None:
        assert stack.simulator is not None
        sim = stack.simulator.state
        a, b = two
        posted: list[dict[str, Any]] = []

        def post(*events: dict[str, Any]) -> None:
            posted.extend(events)
            response = stack.post_events(list(events))
            assert response.status_code == 202, response.text

        # 1. Tenant A's mailbox answers every request with 429.
        sim.add_fault(429, mailbox=a.mailbox, retry_after=1, count=1_000_000)
        post(planned(a, "A throttled", 8), planned(b, "B first", 8))
        wait_for(lambda: subjects(stack, b) == ["B first"] and answers(stack, a, 429) >= 2, timeout=120,
                 message="B's event landed while A was refused twice")
        assert subjects(stack, a) == []

        # 2. A's credential is revoked: its secret removed, the token it holds refused.
        sim.clear_faults()
        sim.tenancy.remove_secrets(a.tenant, client_id(stack))
        sim.add_fault(401, mailbox=a.mailbox, error_code="InvalidAuthenticationToken", count=1_000_000)
        post(planned(a, "A revoked", 9), planned(b, "B second", 9))
        assert stack.host is not None
        wait_for(lambda: subjects(stack, b) == ["B first", "B second"]
                 and f"tenant {a.tenant} paused" in stack.host.output, timeout=120,
                 message="B's second event landed while A paused for its credential")
        assert subjects(stack, a) == []
        assert stack.admin("GET", "/api/manage/credentials").json()["worker"]["state"] == "running", \
            "the default tenant is not paused by A's credential"

        # 3. A's credential is restored: its events land, each once.
        sim.clear_faults()
        sim.tenancy.add_secret(a.tenant, client_id(stack), a.secret)
        wait_for(lambda: subjects(stack, a) == ["A revoked", "A throttled"], timeout=180,
                 message="A's events landed after its credential came back")
        stack.wait_until_drained(timeout=120)
        assert subjects(stack, a) == ["A revoked", "A throttled"]
        assert subjects(stack, b) == ["B first", "B second"]
        assert dead_letters_of(stack, posted) == []

        # 4. Every mailbox request carried a token of the mailbox's own tenant.
        owners = {sim.find_user(c.mailbox)["id"]: c.tenant for c in two}  # type: ignore[index]
        seen = [r for r in sim.requests() if r["mailbox"] in owners]
        assert seen and all(r["tid"] == owners[r["mailbox"]] for r in seen)
        assert not [r for r in sim.requests() if r["status"] == 403]

    def test_a_mailbox_of_another_tenant_is_refused_by_graph(self, stack: LocalStack,
                                                             two: tuple[Customer, Customer]) -> None:
        """A source of tenant B naming a mailbox of tenant A: written with B's token, Graph refuses it (403), so
        it is dead-lettered with the reason and A's mailbox stays untouched."""
        assert stack.simulator is not None
        a, b = two
        stray = planned(b, "Stray", 10) | {"data": planned(b, "Stray", 10)["data"] | {
            "resource": {"email": a.mailbox}}}
        assert stack.post_events([stray]).status_code == 202
        stack.wait_until_drained(timeout=120)
        assert subjects(stack, a) == []
        [dead] = dead_letters_of(stack, [stray])
        assert dead["tenant"] == b.tenant
        user = stack.simulator.state.find_user(a.mailbox)
        assert user is not None
        refused = [r for r in stack.simulator.state.requests() if r["mailbox"] == user["id"]]
        assert refused and all(r["status"] == 403 and r["tid"] == b.tenant for r in refused)


def test_the_demo_serves_two_tenants_side_by_side(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    from local.demo_tenants import demo_tenants

    demo_tenants(stack)
    printed = capsys.readouterr().out
    assert "Fabrikam boiler check" in printed and "Tailspin hangar audit" in printed
    fabrikam, tailspin = printed.split("Tenant Fabrikam")[1].split("Tenant Tailspin")
    assert "Tailspin hangar" not in fabrikam and "Fabrikam boiler" not in tailspin
