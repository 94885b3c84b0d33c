from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from shared.app.credentials.rotation import rotate
from shared.domain.credentials.certificates import PEM_CONTENT_TYPE, generate_certificate, load_certificate
from shared.domain.credentials.policy import OWN_MARK
from tests.support.credential_fakes import NOW, CredentialWorld

NAME = "graph-client-secret"


@pytest.fixture
def world() -> CredentialWorld:
    return CredentialWorld()


def secret_in_use(world: CredentialWorld, *, days_left: int, value: str = "portal-secret") -> str:
    credential = world.entra.add_existing(value, end=NOW + timedelta(days=days_left))
    world.vault.add(NAME, value, expires_on=credential.end)
    return credential.key_id


class TestSecretRotation:
    async def test_a_secret_far_from_expiry_is_left_alone(self, world: CredentialWorld) -> None:
        secret_in_use(world, days_left=90)
        outcome = await rotate(world.runtime())
        assert outcome.action == "not-due" and world.entra.added == []
        assert world.state.state.expires_on == NOW + timedelta(days=90)

    async def test_a_due_secret_is_replaced_stored_with_its_key_id_and_followed(self, world: CredentialWorld) -> None:
        old_key = secret_in_use(world, days_left=20)
        runtime = world.runtime()
        outcome = await rotate(runtime)
        assert outcome.action == "rotated"
        [new_key] = world.entra.added
        stored = world.vault.latest(NAME)
        assert stored.tags == {"keyId": new_key, "createdBy": OWN_MARK}
        assert stored.expires_on == NOW + timedelta(days=180) and stored.content_type == "text/plain"
        assert world.entra.passwords[new_key].credential.display_name.startswith(OWN_MARK)
        assert runtime.provider.material is not None and runtime.provider.material.version == stored.version
        assert old_key in world.entra.passwords  # a person's secret is never removed
        assert world.state.state.last_rotation == NOW and world.state.state.problem is None

    async def test_our_old_secret_goes_after_the_grace_period(self, world: CredentialWorld) -> None:
        secret_in_use(world, days_left=20)
        runtime = world.runtime()
        await rotate(runtime, force=True)
        first = world.entra.added[0]
        world.clock.advance(days=160)  # the first one of ours is due now
        await rotate(runtime)
        second = world.entra.added[1]
        assert first in world.entra.passwords  # grace period: instances may still use it
        world.clock.advance(hours=25)
        await rotate(runtime)
        assert first not in world.entra.passwords and second in world.entra.passwords
        assert world.entra.removed == [first]

    async def test_revoke_old_removes_our_previous_secret_at_once(self, world: CredentialWorld) -> None:
        secret_in_use(world, days_left=20)
        runtime = world.runtime()
        await rotate(runtime, force=True)
        first = world.entra.added[0]
        outcome = await rotate(runtime, force=True, revoke_old=True)
        assert outcome.removed == [first] and first not in world.entra.passwords

    async def test_revoke_old_removes_the_secret_in_use_even_when_a_person_created_it(
            self, world: CredentialWorld) -> None:
        leaked = secret_in_use(world, days_left=90)
        other = world.entra.add_existing("another-app-uses-this", end=NOW + timedelta(days=300)).key_id
        outcome = await rotate(world.runtime(), force=True, revoke_old=True)
        assert outcome.action == "rotated" and outcome.removed == [leaked]
        assert leaked not in world.entra.passwords and other in world.entra.passwords

    async def test_without_revoke_old_a_persons_secret_in_use_stays(self, world: CredentialWorld) -> None:
        person = secret_in_use(world, days_left=20)
        runtime = world.runtime()
        assert (await rotate(runtime)).action == "rotated"  # the timer: due, so rotated
        world.clock.advance(days=2)  # past the grace period
        assert (await rotate(runtime)).action == "not-due"
        assert (await rotate(runtime, force=True)).action == "rotated"
        assert person in world.entra.passwords and person not in world.entra.removed

    async def test_revoke_old_says_so_when_the_secret_in_use_is_unknown(self, world: CredentialWorld) -> None:
        world.entra.add_existing("abc-one", end=NOW + timedelta(days=90))
        world.entra.add_existing("abc-two", end=NOW + timedelta(days=90))  # same hint: ambiguous
        world.vault.add(NAME, "abc-one", expires_on=NOW + timedelta(days=90))
        outcome = await rotate(world.runtime(), force=True, revoke_old=True)
        assert outcome.action == "rotated" and outcome.removed == []
        assert "could not be identified" in outcome.detail and "abc-one" not in outcome.detail

    async def test_two_instances_at_once_give_one_new_password(self, world: CredentialWorld) -> None:
        secret_in_use(world, days_left=5)
        outcomes = await asyncio.gather(rotate(world.runtime()), rotate(world.runtime()))
        assert sorted(o.action for o in outcomes) == ["busy", "rotated"]
        assert len(world.entra.added) == 1 and len(world.vault.versions[NAME]) == 2
        # And the one that lost sees the new secret next time: nothing more to do.
        assert (await rotate(world.runtime())).action == "not-due"

    async def test_a_new_password_is_stored_only_once_it_works(self, world: CredentialWorld) -> None:
        secret_in_use(world, days_left=5)
        world.entra.new_password_delay = 3
        outcome = await rotate(world.runtime())
        assert outcome.action == "rotated"
        assert world.entra.passwords[world.entra.added[0]].probes_until_valid == 0

    async def test_a_new_password_that_never_works_is_removed_and_nothing_switches(
            self, world: CredentialWorld) -> None:
        secret_in_use(world, days_left=5)
        world.entra.new_password_delay = 10_000
        outcome = await rotate(world.runtime())
        assert outcome.action == "failed"
        assert world.entra.removed == world.entra.added and len(world.vault.versions[NAME]) == 1

    async def test_without_permission_a_daily_warning_and_the_fix_no_rotation(
            self, world: CredentialWorld, caplog: pytest.LogCaptureFixture) -> None:
        secret_in_use(world, days_left=50, value="very-secret-portal-value")
        world.entra.may_write = False
        runtime = world.runtime()
        with caplog.at_level(logging.WARNING):
            outcome = await rotate(runtime, force=True)
            await rotate(runtime, force=True)  # same day: no second warning
            world.clock.advance(days=1)
            await rotate(runtime, force=True)
        assert outcome.action == "impossible" and world.entra.added == []
        warnings = [r for r in caplog.records if "cannot be rotated" in r.getMessage()]
        assert len(warnings) == 2
        assert "Application.ReadWrite.OwnedBy" in warnings[0].getMessage()
        assert world.state.state.problem and "Application.ReadWrite.OwnedBy" in (world.state.state.fix or "")
        assert all("very-secret-portal-value" not in r.getMessage() for r in caplog.records)

    async def test_no_warning_while_more_than_sixty_days_are_left(
            self, world: CredentialWorld, caplog: pytest.LogCaptureFixture) -> None:
        secret_in_use(world, days_left=90)
        world.entra.may_write = False
        with caplog.at_level(logging.WARNING):
            await rotate(world.runtime(), force=True)
        assert not [r for r in caplog.records if "cannot be rotated" in r.getMessage()]

    async def test_without_a_vault_rotation_is_impossible_and_says_why(self, world: CredentialWorld) -> None:
        outcome = await rotate(world.runtime(vault=False))
        assert outcome.action == "impossible" and "CALENDAR_MSGRAPH_KEY_VAULT_URL" in outcome.detail

    async def test_federated_has_nothing_to_rotate(self, world: CredentialWorld) -> None:
        assert (await rotate(world.runtime("federated"))).action == "nothing-to-rotate"


class TestCertificateRotation:
    def start(self, world: CredentialWorld, days_left: int) -> str:
        cert = generate_certificate("person", NOW - timedelta(days=10), days_left + 10)
        key = world.entra.add_certificate(cert.certificate)
        world.vault.add("graph-client-certificate", cert.pem.decode(), content_type=PEM_CONTENT_TYPE)
        return key.key_id

    async def test_a_due_certificate_is_rolled_with_proof_of_possession(self, world: CredentialWorld) -> None:
        self.start(world, days_left=10)
        runtime = world.runtime("certificate")
        outcome = await rotate(runtime)
        assert outcome.action == "rotated"
        [new_key] = world.entra.added
        stored = world.vault.latest("graph-client-certificate")
        assert stored.content_type == PEM_CONTENT_TYPE and stored.tags["keyId"] == new_key
        assert load_certificate(stored.value).thumbprint_hex == world.entra.keys[new_key][0].thumbprint
        assert (await runtime.provider.get_token("s")).token

    async def test_the_previous_certificate_of_ours_is_removed_with_a_proof_from_the_new_one(
            self, world: CredentialWorld) -> None:
        person = self.start(world, days_left=10)
        runtime = world.runtime("certificate")
        await rotate(runtime)
        first = world.entra.added[0]
        outcome = await rotate(runtime, force=True, revoke_old=True)
        assert outcome.removed == [first] and person in world.entra.keys

    async def test_revoke_old_removes_a_persons_certificate_in_use(self, world: CredentialWorld) -> None:
        person = self.start(world, days_left=100)
        other = world.entra.add_certificate(generate_certificate("other", NOW, 100).certificate).key_id
        runtime = world.runtime("certificate")
        outcome = await rotate(runtime, force=True, revoke_old=True)
        assert outcome.action == "rotated" and outcome.removed == [person]
        assert person not in world.entra.keys and other in world.entra.keys
        assert (await runtime.provider.get_token("s")).token

    async def test_without_revoke_old_a_persons_certificate_stays(self, world: CredentialWorld) -> None:
        person = self.start(world, days_left=10)
        runtime = world.runtime("certificate")
        await rotate(runtime)
        world.clock.advance(days=2)
        await rotate(runtime, force=True)
        assert person in world.entra.keys

    async def test_a_forged_proof_is_refused(self, world: CredentialWorld) -> None:
        from shared.domain.credentials.certificates import proof_of_possession
        from shared.errors import RejectedByGraph

        self.start(world, days_left=10)
        stranger = generate_certificate("stranger", NOW, 30)
        with pytest.raises(RejectedByGraph):
            await world.entra.add_key(stranger.public_key_base64, "x",
                                      proof_of_possession(stranger, world.entra.object_id, NOW))

    async def test_when_every_certificate_has_expired_a_person_must_act(self, world: CredentialWorld) -> None:
        self.start(world, days_left=10)
        world.clock.advance(days=11)
        outcome = await rotate(world.runtime("certificate"))
        assert outcome.action == "impossible" and "upload a new certificate" in outcome.detail
