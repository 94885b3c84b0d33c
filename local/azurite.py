"""Start Azurite's Table service from the npm package, for the local stack and the tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from local.processes import stop_process
from shared.config import AZURITE_TABLES

__all__ = ["RunningAzurite", "free_port", "start_azurite"]

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Azurite exited with code {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"Azurite did not listen on port {port} within {timeout} s")


@dataclass
class RunningAzurite:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def connection_string(self) -> str:
        return AZURITE_TABLES.replace("127.0.0.1:10002", f"127.0.0.1:{self.port}")

    def stop(self) -> None:
        stop_process(self.process)


def azurite_command() -> str:
    local = ROOT / "node_modules" / ".bin" / "azurite-table"
    if local.exists():
        return str(local)
    found = shutil.which("azurite-table")
    if found is None:
        raise FileNotFoundError("azurite-table not found: run `npm ci` in the repository root")
    return found


def start_azurite(port: int | None = None, *, workspace: Path | None = None, timeout: float = 30) -> RunningAzurite:
    """Azurite Table on loopback; in memory unless a workspace folder is given."""
    port = port or free_port()
    args = [azurite_command(), "--tableHost", "127.0.0.1", "--tablePort", str(port), "--silent",
            "--skipApiVersionCheck", "--disableTelemetry"]
    if workspace is None:
        args.append("--inMemoryPersistence")
    else:
        workspace.mkdir(parents=True, exist_ok=True)
        args += ["--location", str(workspace)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        _wait_for_port(port, process, timeout)
    except Exception:
        process.kill()
        raise
    return RunningAzurite(port, process)
