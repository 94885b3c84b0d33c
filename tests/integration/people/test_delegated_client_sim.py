"""``GraphSession.client_for`` with a person's credential as the connections adapter returns it (the port's own
token type, not azure-core's ``AccessToken``): msgraph-sdk sends it as the bearer and the simulator answers as
that person."""

from __future__ import annotations

import ssl
import time

import httpx

from local.graphsim.server import RunningSimulator
from shared.adapters.graph.session import GraphSession
from shared.app.people.delegated import DelegatedToken
from tests.support.builders import sim_settings

RITA = "rita@contoso.com"


class PersonCredential:
    def __init__(self, simulator: RunningSimulator) -> None:
        self.simulator = simulator

    async def get_token(self, *scopes: str, **kwargs: object) -> DelegatedToken:
        context = ssl.create_default_context(cafile=str(self.simulator.ca_path))
        async with httpx.AsyncClient(verify=context) as client:
            answer = await client.post(f"{self.simulator.base_url}/_sim/people/tokens",
                                       json={"user": RITA, "scopes": ["Calendars.ReadWrite", "User.Read"]})
        answer.raise_for_status()
        body = answer.json()
        return DelegatedToken(body["access_token"], int(time.time()) + int(body["expires_in"]))


async def test_a_person_s_own_token_type_is_sent_as_the_bearer(simulator: RunningSimulator) -> None:
    simulator.state.reset()
    simulator.state.add_user(RITA, "Rita")
    session = GraphSession(sim_settings(simulator))
    try:
        client = session.client_for(PersonCredential(simulator))
        page = await client.users.by_user_id(RITA).events.get()
        assert page is not None and page.value == []
    finally:
        await session.close()
