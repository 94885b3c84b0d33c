from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from shared.errors import CredentialUnavailable
from tests.support.credential_fakes import NOW, CredentialWorld

SCOPE = "https://graph.microsoft.com/.default"


@pytest.fixture
def world() -> CredentialWorld:
    return CredentialWorld()


def valid_secret(world: CredentialWorld, value: str = "first-secret-value") -> str:
    world.entra.add_existing(value, end=NOW + timedelta(days=100))
    world.vault.add("graph-client-secret", value, expires_on=NOW + timedelta(days=100))
    return value


class TestSecretFromKeyVault:
    async def test_the_newest_enabled_unexpired_version_is_used(self, world: CredentialWorld) -> None:
        valid_secret(world)
        world.vault.add("graph-client-secret", "expired-one", expires_on=NOW - timedelta(days=1))
        world.vault.add("graph-client-secret", "disabled-one", enabled=False)
        provider = world.runtime().provider
        assert (await provider.get_token(SCOPE)).token
        assert provider.material is not None and provider.material.version == "v1"

    async def test_the_vault_is_read_again_only_after_the_ttl(self, world: CredentialWorld) -> None:
        valid_secret(world)
        provider = world.runtime().provider
        await provider.get_token(SCOPE)
        await provider.get_token(SCOPE)
        assert world.vault.reads == 1
        world.clock.advance(minutes=6)
        await provider.get_token(SCOPE)
        assert world.vault.reads == 2

    async def test_invalid_client_reads_the_vault_at_once_and_retries_once(self, world: CredentialWorld) -> None:
        old = valid_secret(world)
        provider = world.runtime().provider
        await provider.get_token(SCOPE)
        # Someone rotated: a new password in Entra and in the vault, the old one revoked.
        world.entra.passwords = {}
        valid_secret(world, "second-secret-value")
        requests = world.entra.token_requests
        assert (await provider.get_token(SCOPE)).token
        assert world.entra.token_requests == requests + 2  # the failed one and its single retry
        assert provider.material is not None and provider.material.version == "v2"
        assert old not in repr(provider.material)

    async def test_no_working_secret_anywhere_is_credential_unavailable_with_the_fix(
            self, world: CredentialWorld) -> None:
        secret = valid_secret(world)
        world.clock.advance(days=101)  # the password has expired in Entra (the vault still says 100 days)
        world.vault.versions["graph-client-secret"][0].version = world.vault.versions["graph-client-secret"][
            0].version.__class__("graph-client-secret", "v1", secret, None)
        provider = world.runtime().provider
        with pytest.raises(CredentialUnavailable) as caught:
            await provider.get_token(SCOPE)
        message = str(caught.value)
        assert "AADSTS7000222" in message and "Key Vault" in message and "az keyvault secret set" in message
        assert secret not in message

    async def test_an_unreachable_vault_is_credential_unavailable(self, world: CredentialWorld) -> None:
        valid_secret(world)
        world.vault.reachable = False
        with pytest.raises(CredentialUnavailable, match="unreachable"):
            await world.runtime().provider.get_token(SCOPE)


class TestOneRequestAtATime:
    async def test_concurrent_callers_share_one_token_request(self, world: CredentialWorld) -> None:
        valid_secret(world)
        provider = world.runtime().provider
        tokens = await asyncio.gather(*(provider.get_token(SCOPE) for _ in range(20)))
        assert world.entra.token_requests == 1 and world.vault.reads == 1
        assert len({t.token for t in tokens}) == 1

    async def test_a_failing_request_fails_every_caller_that_shared_it(self, world: CredentialWorld) -> None:
        world.entra.add_existing("static-but-expired", end=NOW - timedelta(days=1))
        provider = world.runtime(vault=False).provider
        results = await asyncio.gather(*(provider.get_token(SCOPE) for _ in range(7)), return_exceptions=True)
        assert all(isinstance(r, CredentialUnavailable) for r in results)
        assert world.entra.token_requests == 1  # not seven refused requests at once

    async def test_invalid_client_under_load_reads_the_vault_once_and_retries_once(
            self, world: CredentialWorld) -> None:
        valid_secret(world)
        provider = world.runtime().provider
        await provider.get_token(SCOPE)
        world.entra.passwords = {}  # rotated: the old password revoked, a new one in Entra and the vault
        valid_secret(world, "second-secret-value")
        requests, reads = world.entra.token_requests, world.vault.reads
        tokens = await asyncio.gather(*(provider.get_token(SCOPE) for _ in range(20)))
        assert len({t.token for t in tokens}) == 1
        assert world.entra.token_requests == requests + 2 and world.vault.reads == reads + 1

    async def test_a_token_refused_by_many_requests_is_dropped_once(self, world: CredentialWorld) -> None:
        valid_secret(world)
        provider = world.runtime().provider
        refused = (await provider.get_token(SCOPE)).token

        async def graph_said_401() -> str:
            await provider.invalidate(refused)
            return str((await provider.get_token(SCOPE)).token)

        fresh = await asyncio.gather(*(graph_said_401() for _ in range(10)))
        assert len(set(fresh)) == 1 and refused not in fresh
        assert world.factory.built == ["secret", "secret"]  # the first credential and one replacement
        assert world.entra.token_requests == 2

    async def test_a_caller_that_gives_up_does_not_cancel_the_others(self, world: CredentialWorld) -> None:
        valid_secret(world)
        provider = world.runtime().provider
        first = asyncio.ensure_future(provider.get_token(SCOPE))
        second = asyncio.ensure_future(provider.get_token(SCOPE))
        await asyncio.sleep(0)
        first.cancel()
        assert (await second).token and world.entra.token_requests == 1


class TestOtherSources:
    async def test_without_a_vault_the_app_setting_is_used(self, world: CredentialWorld) -> None:
        world.entra.add_existing("static", end=NOW + timedelta(days=5))
        provider = world.runtime(vault=False).provider
        assert (await provider.get_token(SCOPE)).token
        assert world.vault.reads == 0

    async def test_a_refused_app_setting_secret_is_not_retried(self, world: CredentialWorld) -> None:
        provider = world.runtime(vault=False).provider
        with pytest.raises(CredentialUnavailable, match="CALENDAR_MSGRAPH_CLIENT_SECRET"):
            await provider.get_token(SCOPE)
        assert world.entra.token_requests == 1

    async def test_federated_needs_nothing_stored(self, world: CredentialWorld) -> None:
        provider = world.runtime("federated").provider
        assert (await provider.get_token(SCOPE)).token
        assert world.vault.reads == 0


class TestOutboundWebhookSecret:
    async def test_read_from_the_vault_and_followed_after_the_ttl(self, world: CredentialWorld) -> None:
        world.vault.add("outbound-webhook-secret", "whsec_first")
        from shared.app.credentials.runtime import OutboundWebhookSecret

        runtime = world.runtime()
        secret = OutboundWebhookSecret(runtime.settings, runtime.secrets, runtime.clock)
        assert await secret() == "whsec_first"
        world.vault.add("outbound-webhook-secret", "whsec_second")
        assert await secret() == "whsec_first"  # cached
        world.clock.advance(minutes=6)
        assert await secret() == "whsec_second"
