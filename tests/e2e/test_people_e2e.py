"""End to end, people: a person connects through the local host and the simulator's sign-in (Entra posts the code
to the callback as a form), and the status route says connected; forgetting them makes it not-connected."""

from __future__ import annotations

import html
import re
import ssl
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from local.stack import LocalStack

pytestmark = pytest.mark.e2e
ANNA = "anna.berger@contoso.com"


def test_a_person_connects_and_the_status_says_so(stack: LocalStack) -> None:
    assert stack.host is not None and stack.simulator is not None
    key = {"x-functions-key": stack.host.function_key}
    return_url = f"{stack.base_url}/connected"
    with stack.client() as client:
        started = client.post("/api/connections", json={"user": ANNA, "returnUrl": return_url}, headers=key)
        assert started.status_code == 200, started.text
        with httpx.Client(verify=ssl.create_default_context(cafile=str(stack.simulator.ca_path))) as browser:
            page = browser.get(started.json()["authorizeUrl"])
        assert page.status_code == 200, page.text
        action = html.unescape(re.search(r'action="([^"]+)"', page.text).group(1))  # type: ignore[union-attr]
        assert action == f"{stack.base_url}/api/connections/callback"
        fields = {html.unescape(k): html.unescape(v) for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"',
                                                                           page.text)}
        back = client.post("/api/connections/callback", data=fields)
        assert back.status_code == 302, back.text
        assert dict(parse_qsl(urlsplit(back.headers["location"]).query)) == {"connection": "connected"}
        state = client.get(f"/api/connections/{ANNA}", headers=key).json()
        assert state["state"] == "connected" and "Calendars.ReadWrite" in state["scopes"]
        assert client.delete(f"/api/connections/{ANNA}", headers=key).status_code == 204
        assert client.get(f"/api/connections/{ANNA}", headers=key).json()["state"] == "not-connected"
