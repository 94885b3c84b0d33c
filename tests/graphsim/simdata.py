"""Constants and small builders shared by the graphsim tests."""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from local.graphsim.server import RunningSimulator

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
CLIENT_SECRET = "graphsim-test-secret-value"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
ALICE = "alice@contoso.example"
BOB = "bob@contoso.example"


def fetch_token(sim: RunningSimulator, ssl_ctx: ssl.SSLContext, **form: str) -> httpx.Response:
    data = {"grant_type": "client_credentials", "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "scope": GRAPH_SCOPE} | form
    with httpx.Client(verify=ssl_ctx) as client:
        return client.post(f"{sim.auth_endpoint}/{TENANT}/oauth2/v2.0/token", data=data)


def event_body(subject: str = "Planning", start: str = "2025-06-02T09:00:00",
               end: str = "2025-06-02T10:00:00", zone: str = "UTC", **extra: Any) -> dict[str, Any]:
    return {"subject": subject, "start": {"dateTime": start, "timeZone": zone},
            "end": {"dateTime": end, "timeZone": zone}} | extra
