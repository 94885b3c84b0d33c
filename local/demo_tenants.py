"""The demo's two-tenant part: a vendor onboards two customer organisations (each registered through the
operator routes, its administrator consenting through the link, its credential in the Key Vault), each
customer's planning system posts one event, and each tenant's calendars are printed.

``onboard`` is also what the tenants' end-to-end test does to set up a customer."""

from __future__ import annotations

import secrets
import ssl
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from local.stack import LocalStack, print_calendars
from shared.app.tenants.consent import CALLBACK_PATH

__all__ = ["Customer", "demo_tenants", "onboard", "planned"]


@dataclass(frozen=True)
class Customer:
    tenant: str
    name: str
    source: str
    mailbox: str
    secret: str


def onboard(stack: LocalStack, name: str) -> Customer:
    """What a vendor does for a new customer: register the tenant, send the consent link to its administrator
    (who accepts in the simulator), keep the customer's credential for the app in the Key Vault."""
    assert stack.simulator is not None and stack.vault is not None
    sim, client = stack.simulator.state, stack.env["CALENDAR_MSGRAPH_CLIENT_ID"]
    tenant, secret = str(uuid.uuid4()), secrets.token_urlsafe(24)
    customer = Customer(tenant, name.title(), f"https://planning.example.com/{name}-{tenant[:8]}",
                        f"planner@{name}.example", secret)
    sim.tenancy.add_tenant(tenant)
    user = sim.find_user(customer.mailbox) or sim.add_user(customer.mailbox, f"Planner of {customer.name}")
    sim.tenancy.assign(user["id"], tenant)
    sim.tenancy.multi_tenant(client, [stack.env["CONNECTOR_PUBLIC_BASE_URL"] + CALLBACK_PATH])
    secret_name = f"{name}-graph-secret"
    stack.vault.state.set_secret(secret_name, secret, content_type="text/plain")
    put = stack.admin("PUT", f"/api/manage/tenants/{tenant}", json={
        "displayName": customer.name, "sources": [customer.source],
        "credential": {"kind": "secret", "secretName": secret_name}})
    put.raise_for_status()
    link = stack.admin("GET", f"/api/manage/tenants/{tenant}/consent-url")
    link.raise_for_status()
    with httpx.Client(verify=ssl.create_default_context(cafile=str(stack.simulator.ca_path))) as browser:
        answer = browser.get(link.json()["url"])  # the administrator accepts; Entra sends the browser back
    if answer.status_code != 302:
        raise RuntimeError(f"consent for {name} not answered: {answer.status_code} {answer.text[:200]}")
    with stack.client() as browser:
        browser.get(answer.headers["location"]).raise_for_status()
    sim.tenancy.add_secret(tenant, client, secret)  # the customer's credential for the app's service principal
    return customer


def planned(customer: Customer, title: str, hour: int, event_id: str | None = None) -> dict[str, Any]:
    """A ``task.planned`` CloudEvent of the customer's planning system, for its planner's calendar."""
    return {"specversion": "1.0", "id": event_id or f"{customer.tenant[:8]}-{uuid.uuid4().hex[:8]}",
            "source": customer.source, "type": "task.planned", "subject": f"task/{title.replace(' ', '-')}",
            "time": "2026-05-01T06:00:00Z", "sequence": "1",
            "data": {"resource": {"email": customer.mailbox}, "start": f"2026-05-04T{hour:02d}:00:00",
                     "end": f"2026-05-04T{hour + 1:02d}:00:00", "timeZone": "Europe/Berlin", "title": title}}


def demo_tenants(stack: LocalStack) -> None:
    print("\nTwo customer organisations in one deployment ...")
    customers = [onboard(stack, "fabrikam"), onboard(stack, "tailspin")]
    for customer in customers:
        shown = stack.admin("GET", f"/api/manage/tenants/{customer.tenant}").json()
        print(f"  {customer.name}: tenant {customer.tenant}, source {customer.source}, "
              f"consent {shown['consent']['status']}")
    events = [planned(customers[0], "Fabrikam boiler check", 9), planned(customers[1], "Tailspin hangar audit", 11)]
    response = stack.post_events(events)
    print(f"  POST /api/planning/events (one event from each tenant's source) -> {response.status_code}")
    response.raise_for_status()
    stack.wait_until_drained()
    for customer in customers:
        print(f"\nTenant {customer.name} ({customer.tenant}):", end="")
        print_calendars(stack, users={customer.mailbox: f"Planner of {customer.name}"})
