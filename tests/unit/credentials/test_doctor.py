from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from shared.adapters.local_queue import LocalQueuePublisher
from shared.app.operator import doctor
from shared.bootstrap import Container
from shared.config import QueueConnection
from tests.support.builders import FakeWorld
from tests.support.credential_fakes import NOW, CredentialWorld


class BrokenResources:
    async def list(self) -> list:
        raise ConnectionError("table endpoint refused the connection")

    async def is_active(self, mailbox: str) -> bool:
        return True


def services(world: FakeWorld, creds: CredentialWorld, **overrides: object) -> Container:
    runtime = creds.runtime()
    settings = replace(runtime.settings, queue=QueueConnection(local_path=None))
    runtime.settings = settings
    ports = {"queue": world.queue, "mappings": world.mappings, "resources": world.resources,
             "deadletters": world.deadletters, "calendar": world.calendar, **overrides}
    return Container(settings, clock=creds.clock, credentials=runtime, **ports)  # type: ignore[arg-type]


@pytest.fixture
def creds() -> CredentialWorld:
    world = CredentialWorld()
    world.entra.add_existing("the-secret", end=NOW + timedelta(days=90))
    world.vault.add("graph-client-secret", "the-secret", expires_on=NOW + timedelta(days=90))
    return world


async def test_healthy_setup_all_checks_pass_in_order(creds: CredentialWorld) -> None:
    checks = await doctor.run_checks(services(FakeWorld(), creds).doctor(rooms=False))
    assert [c.name for c in checks] == ["settings", "token", "permissions", "mailbox", "key vault",
                                        "table storage", "queue", "dead letters"]
    assert all(c.ok for c in checks), [c.line() for c in checks]
    assert "90 day(s) left" in next(c.detail for c in checks if c.name == "key vault")


async def test_unreachable_table_storage_is_one_cross_with_the_role_to_grant(creds: CredentialWorld) -> None:
    checks = await doctor.run_checks(services(FakeWorld(), creds, resources=BrokenResources()).doctor(rooms=False))
    [bad] = [c for c in checks if not c.ok]
    assert bad.name == "table storage" and "Storage Table Data Contributor" in (bad.fix or "")


async def test_an_unreadable_local_queue_is_one_cross(creds: CredentialWorld, tmp_path) -> None:
    svc = services(FakeWorld(), creds, queue=LocalQueuePublisher(tmp_path / "missing" / "q.db"))
    [bad] = [c for c in await doctor.run_checks(svc.doctor(rooms=False)) if not c.ok]
    assert bad.name == "queue" and "Service Bus" in (bad.fix or "")


async def test_a_refused_secret_names_the_entra_code_and_the_fix_but_never_the_secret(
        creds: CredentialWorld) -> None:
    creds.entra.passwords.clear()
    checks = await doctor.run_checks(services(FakeWorld(), creds).doctor(rooms=False))
    [bad] = [c for c in checks if not c.ok]
    assert bad.name == "token" and "AADSTS7000215" in bad.detail and "Key Vault" in (bad.fix or "")
    assert "the-secret" not in json.dumps([c.__dict__ for c in checks])


async def test_a_missing_rotation_permission_names_consent_and_ownership(creds: CredentialWorld) -> None:
    original = creds.factory.secret

    def without_owned_by(value: str):  # type: ignore[no-untyped-def]
        credential = original(value)
        credential.roles = ["Calendars.ReadWrite"]
        return credential
    creds.factory.secret = without_owned_by  # type: ignore[method-assign]
    [bad] = [c for c in await doctor.run_checks(services(FakeWorld(), creds).doctor(rooms=False)) if not c.ok]
    assert bad.name == "permissions" and "Application.ReadWrite.OwnedBy" in bad.detail
    assert "Grant admin consent" in (bad.fix or "") and "az ad app owner add" in (bad.fix or "")


def test_the_command_line_fails_on_bad_settings_naming_the_setting(monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    for name in list(__import__("os").environ):
        if name.startswith(("CALENDAR_MSGRAPH_", "CONNECTOR_", "AzureWebJobs", "TableStorage", "ServiceBus")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    monkeypatch.setenv("CONNECTOR_LOCAL_QUEUE_PATH", "/tmp/q.sqlite3")
    monkeypatch.setenv("CALENDAR_MSGRAPH_SYNCHRONIZE", "true")
    from entrypoints.doctor import main

    assert main(["--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    [check] = report["checks"]
    assert check["name"] == "settings" and "CALENDAR_MSGRAPH_TENANT_GUID" in check["detail"]


async def test_a_mailbox_that_is_not_an_email_address_is_a_400_naming_it(creds: CredentialWorld) -> None:
    reply = await doctor.doctor_reply(services(FakeWorld(), creds).doctor(rooms=False), mailbox="(not-an-address")
    assert (reply.status, reply.content_type) == (400, "application/problem+json")
    assert "mailbox" in reply.json()["detail"] and "(not-an-address" in reply.json()["detail"]
