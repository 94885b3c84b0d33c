"""``python -m local.vaultsim`` as the local stack would start it."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import httpx

from local.graphsim.server import RunningSimulator

from .vaultdata import CLIENT_ID, CLIENT_SECRET, TENANT

ROOT = Path(__file__).resolve().parents[2]


def test_the_cli_prints_a_ready_line_serves_seeded_secrets_and_stops(tmp_path: Path, sim: RunningSimulator) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"secrets": {"graph-client-secret": {"value": "seeded", "contentType": "text/plain"}}}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "local.vaultsim", "--port", "0", "--state-dir", str(tmp_path / "state"),
         "--tenant-id", TENANT, "--authority", sim.base_url, "--authority-ca", str(sim.ca_path),
         "--seed", str(seed)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert line.startswith("vaultsim ready https://127.0.0.1:")
        _, _, vault_url, ca = line.split(" ")
        token = httpx.post(f"{sim.auth_endpoint}/{TENANT}/oauth2/v2.0/token",
                           verify=ssl.create_default_context(cafile=str(sim.ca_path)), data={
                               "grant_type": "client_credentials", "client_id": CLIENT_ID,
                               "client_secret": CLIENT_SECRET, "scope": "https://vault.azure.net/.default"})
        got = httpx.get(f"{vault_url}/secrets/graph-client-secret/", params={"api-version": "7.6"},
                        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
                        verify=ssl.create_default_context(cafile=ca.removeprefix("ca=")))
        assert got.json()["value"] == "seeded" and got.json()["contentType"] == "text/plain"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "seeded" not in out + err
