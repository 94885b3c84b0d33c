"""Rotation, the provider and the applications adapter through the real SDKs: azure-identity against the
Entra simulator, azure-keyvault-secrets against the vault simulator, the lease in Azurite."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from local.azurite import RunningAzurite
from shared.adapters.graph.applications import GraphApplicationGateway
from shared.app.credentials.rotation import rotate
from shared.app.credentials.runtime import CredentialRuntime
from shared.bootstrap import Container
from shared.domain.credentials.certificates import PEM_CONTENT_TYPE, generate_certificate, proof_of_possession
from shared.errors import CredentialUnavailable, RejectedByGraph

from .conftest import TENANT, Cloud

SCOPE = "https://graph.microsoft.com/.default"
NAME = "graph-client-secret"


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.fixture
def runtime_for(cloud: Cloud, azurite: RunningAzurite, closing: list):  # type: ignore[no-untyped-def]
    prefix = None

    def make(kind: str = "secret", **credential: object) -> CredentialRuntime:
        nonlocal prefix
        settings = cloud.settings(kind, tables=azurite.connection_string, **credential)
        if prefix is None:
            prefix = settings.table_prefix
        from dataclasses import replace

        settings = replace(settings, table_prefix=prefix)  # instances share the lease table
        container = Container(settings)  # what each instance builds from its app settings
        closing.append(container)
        return container.credentials()
    return make


def passwords(cloud: Cloud) -> list[dict]:
    return cloud.sim.state.creds.public(cloud.client_id)["passwordCredentials"]


class TestSecret:
    async def test_rotation_end_to_end(self, cloud: Cloud, runtime_for, caplog: pytest.LogCaptureFixture) -> None:
        cloud.put_secret(cloud.secret)
        runtime = runtime_for()
        first = await runtime.provider.get_token(SCOPE)
        with caplog.at_level(logging.DEBUG):
            outcome = await rotate(runtime, force=True)
        assert outcome.action == "rotated", outcome.detail
        assert len(passwords(cloud)) == 2
        stored = cloud.vault.state.get(NAME)
        assert stored.tags["keyId"] == outcome.new_key_id and stored.content_type == "text/plain"
        token = await runtime.provider.get_token(SCOPE)
        assert token.token != first.token and claims(token.token)["appid"] == cloud.client_id
        secret_values = [stored.value, cloud.secret]
        assert not [r for r in caplog.records if any(v in r.getMessage() for v in secret_values)]

    async def test_a_new_password_that_works_only_after_a_delay(self, cloud: Cloud, runtime_for) -> None:
        cloud.put_secret(cloud.secret)
        cloud.sim.state.creds.set_password_delay(cloud.client_id, 2.5)
        outcome = await rotate(runtime_for(), force=True)
        assert outcome.action == "rotated", outcome.detail
        new = cloud.vault.state.get(NAME).value
        assert cloud.sim.state.creds.check_secret(cloud.client_id, new) == "ok"

    async def test_two_instances_at_once_give_one_new_password(self, cloud: Cloud, runtime_for) -> None:
        cloud.put_secret(cloud.secret)
        cloud.sim.state.creds.set_password_delay(cloud.client_id, 1.0)  # keep the first one busy
        outcomes = await asyncio.gather(rotate(runtime_for(), force=True), rotate(runtime_for(), force=True))
        assert sorted(o.action for o in outcomes) == ["busy", "rotated"]
        assert len(passwords(cloud)) == 2 and len(cloud.vault.state.versions(NAME)) == 2

    async def test_without_permission_no_rotation_but_a_problem_with_its_fix(self, cloud: Cloud,
                                                                            runtime_for) -> None:
        cloud.sim.state.creds.grant_roles(cloud.client_id, ["Calendars.ReadWrite"], replace=True)
        cloud.put_secret(cloud.secret, days=40)
        runtime = runtime_for()
        outcome = await rotate(runtime, force=True)
        assert outcome.action == "impossible" and len(passwords(cloud)) == 1
        state = await runtime.state.get()
        assert state.problem and "Application.ReadWrite.OwnedBy" in (state.fix or "")

    async def test_revoke_old_removes_the_persons_secret_in_use_the_timer_leaves_it(self, cloud: Cloud,
                                                                                     runtime_for) -> None:
        cloud.put_secret(cloud.secret)
        [person] = [p["keyId"] for p in passwords(cloud)]
        runtime = runtime_for()
        assert (await rotate(runtime, force=True)).action == "rotated"  # routine: a person's secret stays
        assert person in [p["keyId"] for p in passwords(cloud)]
        cloud.put_secret(cloud.secret, key_id=person)  # a person puts theirs back; then it leaks
        outcome = await rotate(runtime, force=True, revoke_old=True)
        assert outcome.action == "rotated" and person in outcome.removed, outcome.detail
        assert person not in [p["keyId"] for p in passwords(cloud)]
        assert cloud.sim.state.creds.check_secret(cloud.client_id, cloud.secret) != "ok"
        assert claims((await runtime.provider.get_token(SCOPE)).token)["appid"] == cloud.client_id

    async def test_invalid_client_follows_the_vault_and_retries_once(self, cloud: Cloud, runtime_for) -> None:
        from shared.adapters.identity.factory import AzureIdentityFactory

        cloud.put_secret(cloud.secret)
        runtime = runtime_for()
        await runtime.provider.get_token(SCOPE)
        material = runtime.provider.material
        assert material is not None
        # A person rotates in the portal: the old secret revoked, the new one put into the vault.
        cloud.sim.state.creds.revoke_password(cloud.client_id)
        cloud.sim.state.creds.add_password(cloud.client_id, secret="fresh-secret-from-a-person-0123456789")
        cloud.put_secret("fresh-secret-from-a-person-0123456789")
        # The worker's cached token runs out: its next token request still uses the old secret.
        await material.credential.close()
        material.credential = AzureIdentityFactory(runtime.settings).secret(cloud.secret)
        token = await runtime.provider.get_token(SCOPE)
        assert claims(token.token)["appid"] == cloud.client_id
        assert runtime.provider.material is not None and runtime.provider.material.version != material.version

    async def test_no_working_secret_is_credential_unavailable_naming_the_fix(self, cloud: Cloud,
                                                                              runtime_for) -> None:
        cloud.put_secret(cloud.secret)
        cloud.sim.state.creds.expire_password(cloud.client_id)
        with pytest.raises(CredentialUnavailable) as caught:
            await runtime_for().provider.get_token(SCOPE)
        assert "AADSTS7000222" in str(caught.value) and cloud.secret not in str(caught.value)


class TestCertificate:
    def start(self, cloud: Cloud) -> None:
        cert = generate_certificate("person", datetime.now(UTC) - timedelta(days=1), 20)
        cloud.sim.state.creds.add_key(cloud.client_id, cert.certificate, display_name="uploaded by a person")
        cloud.vault.state.set_secret("graph-client-certificate", cert.pem.decode(), content_type=PEM_CONTENT_TYPE)
        cloud.sim.state.creds.grant_roles(cloud.client_id, ["Calendars.ReadWrite", "Application.Read.All"],
                                          replace=True)

    async def test_rotation_with_proof_of_possession_and_no_write_permission(self, cloud: Cloud,
                                                                             runtime_for) -> None:
        self.start(cloud)
        runtime = runtime_for("certificate")
        await runtime.provider.get_token(SCOPE)
        outcome = await rotate(runtime)  # 19 days left: due
        assert outcome.action == "rotated", outcome.detail
        keys = cloud.sim.state.creds.public(cloud.client_id)["keyCredentials"]
        assert len(keys) == 2
        stored = cloud.vault.state.get("graph-client-certificate")
        assert stored.content_type == PEM_CONTENT_TYPE and stored.tags["keyId"] == outcome.new_key_id
        token = await runtime.provider.get_token(SCOPE)
        assert claims(token.token)["appid"] == cloud.client_id
        # The next rotation removes the previous one of ours with a proof from the new certificate.
        again = await rotate(runtime, force=True, revoke_old=True)
        assert again.removed == [outcome.new_key_id]

    async def test_revoke_old_removes_the_persons_certificate_in_use(self, cloud: Cloud, runtime_for) -> None:
        self.start(cloud)
        [person] = [k["keyId"] for k in cloud.sim.state.creds.public(cloud.client_id)["keyCredentials"]]
        runtime = runtime_for("certificate")
        outcome = await rotate(runtime, force=True, revoke_old=True)
        assert outcome.action == "rotated" and outcome.removed == [person], outcome.detail
        keys = cloud.sim.state.creds.public(cloud.client_id)["keyCredentials"]
        assert [k["keyId"] for k in keys] == [outcome.new_key_id]

    async def test_a_forged_proof_is_refused(self, cloud: Cloud, runtime_for) -> None:
        self.start(cloud)
        runtime = runtime_for("certificate")
        gateway = GraphApplicationGateway(runtime.settings, runtime.provider)
        try:
            app = await gateway.get()
            stranger = generate_certificate("stranger", datetime.now(UTC), 30)
            with pytest.raises(RejectedByGraph, match="proof"):
                await gateway.add_key(stranger.public_key_base64, "forged",
                                      proof_of_possession(stranger, app.object_id, datetime.now(UTC)))
        finally:
            await gateway.close()
        assert len(cloud.sim.state.creds.public(cloud.client_id)["keyCredentials"]) == 1


class TestFederated:
    async def test_the_managed_identity_token_is_exchanged_for_the_apps(self, cloud: Cloud, runtime_for) -> None:
        cloud.sim.state.creds.add_federated(cloud.client_id, issuer=f"https://login.microsoftonline.com/{TENANT}/v2.0",
                                            subject=cloud.identity_principal_id, name="function-app")
        runtime = runtime_for("federated")
        token = await runtime.provider.get_token(SCOPE)
        assert claims(token.token)["appid"] == cloud.client_id
        assert (await rotate(runtime)).action == "nothing-to-rotate"

    async def test_without_a_federated_credential_entra_refuses(self, cloud: Cloud, runtime_for) -> None:
        with pytest.raises(CredentialUnavailable, match="federated"):
            await runtime_for("federated").provider.get_token(SCOPE)
