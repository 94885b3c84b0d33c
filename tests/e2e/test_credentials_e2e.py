"""End to end, credentials: the local stack keeps the Graph client secret in the Key Vault simulator and
reads it with the (simulated) App Service managed identity, exactly as deployed. Rotation through the
operator API and the timer, an expired credential with work queued, and the doctor on healthy and broken
setups. Certificates and federation run against the same simulators in tests/integration/credentials."""

from __future__ import annotations

import concurrent.futures
import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.azurite import azurite_command
from local.stack import ROOT, LocalStack
from tests.e2e.conftest import ALL_USERS, dead_letters_of, wait_for

pytestmark = pytest.mark.e2e
NAME = "graph-client-secret"
SOURCE = "https://planning.example.com/credentials-e2e"
_ids = itertools.count(1)


def start_stack(tmp_path_factory: pytest.TempPathFactory, name: str, **settings: str) -> LocalStack:
    try:
        azurite_command()
    except FileNotFoundError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))
    return LocalStack(state_dir=Path(tmp_path_factory.mktemp(name)), port=0, users=ALL_USERS, lock_seconds=2,
                      settings=settings).start()


@pytest.fixture(scope="module")
def cstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    running = start_stack(tmp_path_factory, "cstack")
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def clean_simulator(request: pytest.FixtureRequest) -> Iterator[None]:
    """Overrides the package's fixture: this module runs its own stacks (it breaks credentials on purpose)."""
    if "cstack" not in request.fixturenames:
        yield
        return
    cstack: LocalStack = request.getfixturevalue("cstack")
    assert cstack.simulator is not None and cstack.vault is not None
    cstack.simulator.state.reset()
    yield
    cstack.simulator.state.reset()
    cstack.vault.state.set_outage(None)


def client_id(stack: LocalStack) -> str:
    return stack.env["CALENDAR_MSGRAPH_CLIENT_ID"]


def passwords(stack: LocalStack) -> list[dict]:
    assert stack.simulator is not None
    return stack.simulator.state.creds.public(client_id(stack))["passwordCredentials"]


def status(stack: LocalStack) -> dict:
    response = stack.admin("GET", "/api/manage/credentials")
    assert response.status_code == 200, response.text
    return response.json()


def doctor(stack: LocalStack, mailbox: str = "anna.berger@contoso.com") -> dict:
    response = stack.admin("GET", "/api/manage/doctor", params={"mailbox": mailbox})
    assert response.status_code == 200, response.text
    return response.json()


def failed(report: dict) -> list[dict]:
    return [c for c in report["checks"] if not c["ok"]]


def task_event(mailbox: str, n: int, prefix: str) -> dict:
    return {"specversion": "1.0", "id": f"{prefix}-{next(_ids)}", "source": SOURCE, "type": "task.planned",
            "subject": f"task/{prefix}-{n}", "time": "2026-05-01T06:00:00Z", "sequence": "1",
            "data": {"resource": {"email": mailbox}, "start": f"2026-06-{1 + n % 28:02d}T08:00:00",
                     "end": f"2026-06-{1 + n % 28:02d}T09:00:00", "timeZone": "Europe/Berlin",
                     "title": f"{prefix} job {n}"}}


def put_new_secret(stack: LocalStack, value: str) -> str:
    """What a person does after an expiry: a new secret in the portal, put into Key Vault."""
    assert stack.simulator is not None and stack.vault is not None
    password = stack.simulator.state.creds.add_password(client_id(stack), display_name="by a person", secret=value)
    stack.vault.state.set_secret(NAME, value, content_type="text/plain", expires_on=password.end,
                                 tags={"keyId": password.key_id})
    return password.key_id


def every_secret(stack: LocalStack) -> list[str]:
    assert stack.vault is not None
    return [v.value for v in stack.vault.state.versions(NAME)]


def all_subjects(stack: LocalStack) -> list[str]:
    return [e["subject"] for mailbox in ALL_USERS for e in stack.calendar(mailbox)]


class TestRotation:
    def test_secret_rotation_end_to_end(self, cstack: LocalStack) -> None:
        before = status(cstack)
        assert before["kind"] == "secret" and before["source"] == "key-vault"
        response = cstack.admin("POST", "/api/manage/credentials/rotate")
        assert response.status_code == 200, response.text
        outcome = response.json()
        assert outcome["action"] == "rotated"
        assert outcome["status"]["keyId"] == outcome["newKeyId"] != before["keyId"]
        assert outcome["status"]["daysLeft"] in (179, 180) and outcome["status"]["lastRotation"]
        assert cstack.vault is not None and cstack.vault.state.get(NAME).tags["keyId"] == outcome["newKeyId"]
        # The worker follows at once: an event lands with the new secret.
        assert cstack.post_events([task_event("ben.okafor@contoso.com", 1, "after-rotation")]).status_code == 202
        cstack.wait_until_drained()
        assert "after-rotation job 1" in [e["subject"] for e in cstack.calendar("ben.okafor@contoso.com")]
        # After a leak: rotate again and remove the previous one of ours at once.
        again = cstack.admin("POST", "/api/manage/credentials/rotate", params={"revokeOld": "true"}).json()
        assert again["action"] == "rotated" and outcome["newKeyId"] in again["removed"]
        assert outcome["newKeyId"] not in [p["keyId"] for p in passwords(cstack)]

    def test_the_timer_checks_and_leaves_a_fresh_secret_alone(self, cstack: LocalStack) -> None:
        def runs() -> int:
            return cstack.host.output.count("credential rotation of the default tenant: not-due") if cstack.host else 0

        count, before = len(passwords(cstack)), runs()
        assert cstack.admin("POST", "/admin/functions/rotate_credentials", json={"input": ""}).status_code == 202
        wait_for(lambda: runs() > before, message="the timer ran")
        assert len(passwords(cstack)) == count

    def test_two_rotations_at_once_give_one_new_password(self, cstack: LocalStack) -> None:
        assert cstack.simulator is not None
        cstack.simulator.state.creds.set_password_delay(client_id(cstack), 2.0)  # hold the lease a while
        count = len(passwords(cstack))
        try:
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                answers = list(pool.map(lambda _: cstack.admin("POST", "/api/manage/credentials/rotate"), range(2)))
        finally:
            cstack.simulator.state.creds.set_password_delay(client_id(cstack), 0)
        assert sorted(a.json()["action"] for a in answers) == ["busy", "rotated"]
        assert sorted(a.status_code for a in answers) == [200, 409]
        assert len(passwords(cstack)) == count + 1

    def test_a_new_password_that_works_only_after_a_delay(self, cstack: LocalStack) -> None:
        assert cstack.simulator is not None
        cstack.simulator.state.creds.set_password_delay(client_id(cstack), 3.0)
        try:
            outcome = cstack.admin("POST", "/api/manage/credentials/rotate").json()
        finally:
            cstack.simulator.state.creds.set_password_delay(client_id(cstack), 0)
        assert outcome["action"] == "rotated"
        new = every_secret(cstack)[-1]
        assert cstack.simulator.state.creds.check_secret(client_id(cstack), new) == "ok"

    def test_without_permission_a_problem_with_its_fix_and_no_rotation(self, cstack: LocalStack) -> None:
        assert cstack.simulator is not None
        creds = cstack.simulator.state.creds
        roles = creds.grant_roles(client_id(cstack), [])
        creds.grant_roles(client_id(cstack), [r for r in roles if r != "Application.ReadWrite.OwnedBy"], replace=True)
        count = len(passwords(cstack))
        try:
            response = cstack.admin("POST", "/api/manage/credentials/rotate")
            report = doctor(cstack)
        finally:
            creds.grant_roles(client_id(cstack), roles, replace=True)
        assert response.status_code == 409 and response.json()["action"] == "impossible"
        problem = response.json()["status"]["problem"]
        assert "Application.ReadWrite.OwnedBy" in problem["fix"] and "owner" in problem["fix"]
        assert len(passwords(cstack)) == count
        [bad] = [c for c in failed(report) if c["name"] == "permissions"]
        assert "Application.ReadWrite.OwnedBy" in bad["detail"] and "Grant admin consent" in bad["fix"]
        # Settle the state again for the other tests.
        assert cstack.admin("POST", "/api/manage/credentials/rotate").status_code == 200


class TestNoWorkingCredential:
    def test_invalid_client_mid_run_follows_the_vault_and_nothing_is_dead_lettered(self, cstack: LocalStack) -> None:
        assert cstack.simulator is not None
        state = cstack.simulator.state
        # A person rotates in the portal: every old secret revoked, the new one put into the vault.
        state.creds.revoke_password(client_id(cstack))
        put_new_secret(cstack, "person-rotated-secret-0123456789-abcdef")
        state.add_fault(401, error_code="InvalidAuthenticationToken", count=1)  # the cached token is refused
        events = [task_event(f"worker{n:02d}@contoso.com", n, "midrun") for n in range(20)]
        assert cstack.post_events(events).status_code == 202
        cstack.wait_until_drained(timeout=120)
        assert sorted(s for s in all_subjects(cstack) if s.startswith("midrun")) == sorted(
            f"midrun job {n}" for n in range(20))
        assert dead_letters_of(cstack, events) == []

    def test_the_credential_expires_with_200_events_queued_then_a_new_one_lands_them_all_once(
            self, cstack: LocalStack) -> None:
        assert cstack.simulator is not None
        state = cstack.simulator.state
        state.creds.expire_password(client_id(cstack))
        # Tokens already issued stay valid for their hour, as in Entra: Graph refuses them here, so the
        # worker must ask Entra again, which refuses the expired secret.
        state.add_fault(401, error_code="InvalidAuthenticationToken", count=100_000)
        events = [task_event(f"worker{n % 20:02d}@contoso.com", n, "expired") for n in range(200)]
        assert cstack.post_events(events).status_code == 202
        paused = wait_for(lambda: (s := status(cstack))["worker"]["state"] == "waiting-for-credential" and s,
                          timeout=60, message="the worker reports it waits for a credential")
        assert "AADSTS7000222" in paused["worker"]["reason"]  # type: ignore[index]
        assert [s for s in all_subjects(cstack) if s.startswith("expired")] == []
        assert dead_letters_of(cstack, events) == []
        state.clear_faults()
        put_new_secret(cstack, "new-secret-after-expiry-0123456789-abcdef")
        cstack.wait_until_drained(timeout=240)
        landed = [s for s in all_subjects(cstack) if s.startswith("expired")]
        assert sorted(landed) == sorted(f"expired job {n}" for n in range(200))  # all, each once
        assert dead_letters_of(cstack, events) == []
        wait_for(lambda: status(cstack)["worker"]["state"] == "running", timeout=30, message="resumed")
        output = cstack.host.output if cstack.host else ""
        assert 1 <= output.count("sync paused") <= 5  # one line a minute at most


class TestDoctor:
    def test_healthy(self, cstack: LocalStack) -> None:
        report = doctor(cstack)
        assert report["ok"], failed(report)
        names = [c["name"] for c in report["checks"]]
        assert names[:6] == ["settings", "token", "permissions", "mailbox", "key vault", "table storage"]
        assert {"queue", "dead letters"} <= set(names)

    def test_the_command_line_exits_zero_when_healthy_and_prints_one_line_each(self, cstack: LocalStack) -> None:
        done = subprocess.run([sys.executable, "-m", "entrypoints.doctor", "--mailbox",
                               "anna.berger@contoso.com"],
                              cwd=ROOT, env=cstack.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("✓ settings") and "✗" not in done.stdout

    def test_an_expired_secret(self, cstack: LocalStack) -> None:
        assert cstack.simulator is not None
        cstack.simulator.state.creds.expire_password(client_id(cstack))
        try:
            [bad] = failed(doctor(cstack))
        finally:
            put_new_secret(cstack, "doctor-fresh-secret-0123456789-abcdef")
        assert bad["name"] == "token" and "AADSTS7000222" in bad["detail"]
        assert "Certificates & secrets" in bad["fix"] and "az keyvault secret set" in bad["fix"]

    def test_a_missing_permission(self, cstack: LocalStack) -> None:
        assert cstack.simulator is not None
        creds = cstack.simulator.state.creds
        roles = creds.grant_roles(client_id(cstack), [])
        creds.grant_roles(client_id(cstack), [r for r in roles if r != "Calendars.ReadWrite"], replace=True)
        try:
            [bad] = failed(doctor(cstack))
        finally:
            creds.grant_roles(client_id(cstack), roles, replace=True)
        assert bad["name"] == "permissions" and "Calendars.ReadWrite" in bad["detail"]
        assert "API permissions" in bad["fix"]

    def test_a_mailbox_an_access_policy_excludes(self, cstack: LocalStack) -> None:
        assert cstack.simulator is not None
        cstack.simulator.state.add_fault(403, mailbox="anna.berger@contoso.com", count=1)
        [bad] = failed(doctor(cstack))
        assert bad["name"] == "mailbox" and "ErrorAccessDenied" in bad["detail"]
        assert "Test-ApplicationAccessPolicy" in bad["fix"] and "New-ApplicationAccessPolicy" in bad["fix"]

    def test_an_unreachable_key_vault(self, cstack: LocalStack) -> None:
        assert cstack.vault is not None
        cstack.vault.state.set_outage(503)
        [bad] = failed(doctor(cstack))
        assert bad["name"] == "key vault" and bad["fix"]

    def test_a_dead_letter(self, cstack: LocalStack) -> None:
        bad_event = task_event("nobody@contoso.com", 1, "dead")
        assert cstack.post_events([bad_event]).status_code == 202
        cstack.wait_until_drained()
        try:
            [bad] = failed(doctor(cstack))
            assert bad["name"] == "dead letters" and "/api/manage/deadletters" in bad["fix"]
        finally:
            for record in cstack.admin("GET", "/api/manage/deadletters").json()["value"]:
                cstack.admin("DELETE", f"/api/manage/deadletters/{record['id']}")


def test_no_secret_value_in_any_log_line_status_response_or_doctor_report(cstack: LocalStack) -> None:
    secrets = every_secret(cstack)
    assert secrets
    texts = [cstack.host.output if cstack.host else "",
             cstack.admin("GET", "/api/manage/credentials").text,
             cstack.admin("GET", "/api/manage/doctor").text]
    for text in texts:
        for secret in secrets:
            assert secret not in text


@pytest.fixture(scope="class")
def cert_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    from datetime import UTC, datetime, timedelta

    from shared.domain.credentials.certificates import PEM_CONTENT_TYPE, generate_certificate

    running = start_stack(tmp_path_factory, "certstack", CALENDAR_MSGRAPH_CREDENTIAL="certificate")
    assert running.simulator is not None and running.vault is not None
    # What a person does once: upload a certificate to the app and put it with its key into the vault.
    # The app has no Application.ReadWrite permission: it rolls its own keys by proof of possession.
    cert = generate_certificate("uploaded by a person", datetime.now(UTC) - timedelta(days=1), 20)
    creds = running.simulator.state.creds
    creds.add_key(client_id(running), cert.certificate, display_name="uploaded by a person")
    creds.grant_roles(client_id(running), ["Calendars.ReadWrite", "Application.Read.All"], replace=True)
    running.vault.state.set_secret("graph-client-certificate", cert.pem.decode(), content_type=PEM_CONTENT_TYPE)
    yield running
    running.stop()


class TestCertificateKind:
    def test_events_land_and_the_certificate_is_rolled_by_proof_of_possession(self, cert_stack: LocalStack) -> None:
        assert cert_stack.post_events([task_event("anna.berger@contoso.com", 1, "cert")]).status_code == 202
        cert_stack.wait_until_drained()
        assert "cert job 1" in [e["subject"] for e in cert_stack.calendar("anna.berger@contoso.com")]
        before = status(cert_stack)
        assert before["kind"] == "certificate" and before["daysLeft"] is not None
        outcome = cert_stack.admin("POST", "/api/manage/credentials/rotate").json()
        assert outcome["action"] == "rotated", outcome
        assert cert_stack.simulator is not None and cert_stack.vault is not None
        keys = cert_stack.simulator.state.creds.public(client_id(cert_stack))["keyCredentials"]
        assert outcome["newKeyId"] in [k["keyId"] for k in keys] and len(keys) == 2
        assert cert_stack.vault.state.get("graph-client-certificate").tags["keyId"] == outcome["newKeyId"]
        assert cert_stack.post_events([task_event("anna.berger@contoso.com", 2, "cert")]).status_code == 202
        cert_stack.wait_until_drained()
        assert "cert job 2" in [e["subject"] for e in cert_stack.calendar("anna.berger@contoso.com")]
        report = doctor(cert_stack)
        assert report["ok"], failed(report)
        private_keys = [v.value for v in cert_stack.vault.state.versions("graph-client-certificate")]
        assert all(k not in cert_stack.host.output for k in private_keys) if cert_stack.host else True


@pytest.fixture(scope="class")
def fed_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    running = start_stack(tmp_path_factory, "fedstack", CALENDAR_MSGRAPH_CREDENTIAL="federated")
    assert running.simulator is not None
    creds = running.simulator.state.creds
    identity = creds.find_managed_identity(client_id=running.env["AZURE_CLIENT_ID"])
    assert identity is not None
    # The deployment output's `az ad app federated-credential create`, and no secret left on the app.
    creds.add_federated(client_id(running), name="function-app", subject=identity.principal_id,
                        issuer=f"https://login.microsoftonline.com/{running.env['CALENDAR_MSGRAPH_TENANT_GUID']}/v2.0")
    creds.revoke_password(client_id(running))
    yield running
    running.stop()


class TestFederatedKind:
    def test_the_managed_identity_token_is_exchanged_and_events_land(self, fed_stack: LocalStack) -> None:
        assert fed_stack.post_events([task_event("ben.okafor@contoso.com", 1, "fed")]).status_code == 202
        fed_stack.wait_until_drained()
        assert "fed job 1" in [e["subject"] for e in fed_stack.calendar("ben.okafor@contoso.com")]
        described = status(fed_stack)
        assert described["kind"] == "federated" and described["source"] == "managed-identity"
        assert described["nextRotation"] is None
        assert fed_stack.admin("POST", "/api/manage/credentials/rotate").json()["action"] == "nothing-to-rotate"
        report = doctor(fed_stack)
        assert report["ok"], failed(report)
