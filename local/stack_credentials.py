"""The local stack's credential side: the Key Vault simulator holding the Graph client secret, the App
Service managed identity the app reads the vault with, and the app allowed to rotate its own secret.

Used by ``local.stack`` only; the app then runs exactly as deployed with CALENDAR_MSGRAPH_KEY_VAULT_URL.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

from local.graphsim.server import RunningSimulator
from local.vaultsim.server import RunningVault, start_vault, write_ca_bundle

__all__ = ["DEFAULT_ROTATE_SCHEDULE", "SECRET_NAME", "demo_rotation_and_doctor", "start_vault_for"]

DEFAULT_ROTATE_SCHEDULE = "0 30 3 * * *"  # as shared.config: daily at 03:30 UTC
SECRET_NAME = "graph-client-secret"


def start_vault_for(state_dir: Path, simulator: RunningSimulator, *, tenant: str, client: str, secret: str,
                    env: dict[str, str], secret_name: str = SECRET_NAME) -> RunningVault:
    """Start the vault, put the client secret into it (as ``secret_name``) and point ``env`` at it."""
    vault = start_vault(state_dir / "vaultsim", tenant_id=tenant, authority=simulator.base_url,
                        authority_ca=simulator.ca_path)
    bundle = write_ca_bundle(state_dir / "ca-bundle.pem", simulator.ca_path, vault.ca_path)
    creds = simulator.state.creds
    identity = str(uuid.uuid4())
    creds.add_managed_identity(identity, tenant)
    # The deployment guide's setup: Application.ReadWrite.OwnedBy and the app an owner of itself.
    creds.grant_roles(client, ["Application.ReadWrite.OwnedBy"])
    creds.add_owner(client, owner_client_id=client)
    [password] = creds.public(client)["passwordCredentials"]
    end = datetime.fromisoformat(password["endDateTime"])
    vault.state.set_secret(secret_name, secret, content_type="text/plain", expires_on=end,
                           tags={"keyId": password["keyId"]})
    # CALENDAR_MSGRAPH_CLIENT_SECRET stays, as the deployment keeps its Key Vault reference: with a vault URL
    # the connector ignores it and follows the vault.
    env.update({
        "CALENDAR_MSGRAPH_KEY_VAULT_URL": vault.vault_url,
        "IDENTITY_ENDPOINT": simulator.base_url + "/msi/token",
        "IDENTITY_HEADER": creds.identity_header,
        "AZURE_CLIENT_ID": identity,
        "SSL_CERT_FILE": str(bundle),
        "REQUESTS_CA_BUNDLE": str(bundle),
    })
    return vault


def demo_rotation_and_doctor(stack: object, mailbox: str | None) -> None:
    """Print a rotation run and the doctor's report, as an operator would see them."""
    admin = stack.admin  # type: ignore[attr-defined]
    before = admin("GET", "/api/manage/credentials").json()
    print(f"\nCredential: {before['kind']} from {before['source']}, {before['daysLeft']} day(s) left, "
          f"key id {before['keyId']}")
    outcome = admin("POST", "/api/manage/credentials/rotate").json()
    status = outcome["status"]
    print(f"Rotation: {outcome['action']} ({outcome['detail']}); now key id {status['keyId']}, "
          f"{status['daysLeft']} day(s) left, next rotation {status['nextRotation']}")
    report = admin("GET", "/api/manage/doctor", params={"mailbox": mailbox} if mailbox else None).json()
    print("\nDoctor:")
    for check in report["checks"]:
        print(f"  {'✓' if check['ok'] else '✗'} {check['name']}: {check['detail']}")
        if check.get("fix"):
            print(f"      fix: {check['fix']}")
