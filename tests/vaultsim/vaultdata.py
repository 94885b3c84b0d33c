"""Constants and builders shared by the vaultsim tests."""

from __future__ import annotations

from azure.identity.aio import ClientSecretCredential

from local.graphsim.server import RunningSimulator

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
CLIENT_SECRET = "vaultsim-test-secret-value"
VAULT_SCOPE = "https://vault.azure.net/.default"


def credential(sim: RunningSimulator, secret: str = CLIENT_SECRET) -> ClientSecretCredential:
    return ClientSecretCredential(TENANT, CLIENT_ID, secret, authority=sim.auth_endpoint,
                                  connection_verify=str(sim.ca_path))
