"""The command line entry point as the demo uses it."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def test_the_cli_prints_one_ready_line_serves_seeded_users_and_stops_on_sigterm(
        tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"users": [
        {"userPrincipalName": "room1@contoso.example", "displayName": "Room 1",
         "id": "00000000-0000-0000-0000-0000000000r1"}]}))
    env = os.environ | {"GRAPHSIM_CLIENT_SECRET": "cli-secret"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "local.graphsim", "--port", "0", "--state-dir",
         str(tmp_path / "state"), "--tenant-id", "t-cli", "--client-id", "c-cli",
         "--seed", str(seed)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("graphsim ready https://127.0.0.1:")
        _, _, base_url, ca = line.split(" ")
        assert ca.startswith("ca=")
        ca_path = ca.removeprefix("ca=")
        assert Path(ca_path).is_file()
        ctx = ssl.create_default_context(cafile=ca_path)
        token = httpx.post(f"{base_url}/t-cli/oauth2/v2.0/token", verify=ctx, data={
            "grant_type": "client_credentials", "client_id": "c-cli", "client_secret": "cli-secret",
            "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]
        user = httpx.get(f"{base_url}/v1.0/users/ROOM1@contoso.example", verify=ctx,
                         headers={"Authorization": f"Bearer {token}"})
        assert user.json()["displayName"] == "Room 1"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "cli-secret" not in out + err and token not in out + err
