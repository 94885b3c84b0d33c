"""The systems under test, behind one small interface: the connector (the local stack, unchanged, pointed at the
Graph stand-in through its Graph/auth endpoint settings and a CA file) and the minimal in-memory implementation."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.graphstub import ROOT, RunningStub
from local.processes import stop_process
from local.stack import LocalStack


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return float("nan")


def _with_children(name: str, pid: int) -> dict[str, int]:
    import psutil  # type: ignore[import-untyped]

    found = {name: pid}
    try:
        for child in psutil.Process(pid).children(recursive=True):
            found[f"{name} ({child.name()})"] = child.pid
    except psutil.NoSuchProcess:
        pass
    return found


class System:
    name: str
    base_url: str
    headers: dict[str, str]

    def idle(self) -> bool:
        raise NotImplementedError

    def processes(self) -> dict[str, int]:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers=self.headers, timeout=120)

    def wait_idle(self, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while not self.idle():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} still busy after {timeout} s")
            time.sleep(0.1)


PROFILE_HOOK = """\
import atexit, cProfile, os

_profile = cProfile.Profile()
_profile.enable()
atexit.register(lambda: (_profile.disable(), _profile.dump_stats(os.environ["BENCH_PROFILE_OUT"])))
"""


class Connector(System):
    name = "connector"

    def __init__(self, stub: RunningStub, state_dir: Path, settings: dict[str, str] | None = None,
                 profile: Path | None = None) -> None:
        environ = {key: value for key, value in os.environ.items()
                   if not key.startswith(("CALENDAR_MSGRAPH_", "CONNECTOR_"))}
        if profile is not None:
            # cProfile over the host's main thread (its event loop) from start to a clean stop, through a
            # sitecustomize only the host's interpreter sees.
            hook = state_dir / "profile-hook"
            hook.mkdir(parents=True, exist_ok=True)
            (hook / "sitecustomize.py").write_text(PROFILE_HOOK)
            environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hook), environ.get("PYTHONPATH")]))
            environ["BENCH_PROFILE_OUT"] = str(profile)
        environ.update({
            "CALENDAR_MSGRAPH_GRAPH_ENDPOINT": stub.graph_endpoint,
            "CALENDAR_MSGRAPH_AUTH_ENDPOINT": stub.auth_endpoint,
            "CALENDAR_MSGRAPH_TENANT_GUID": stub.tenant,
            "CALENDAR_MSGRAPH_CLIENT_ID": stub.client_id,
            "CALENDAR_MSGRAPH_CLIENT_SECRET": stub.client_secret,
            "SSL_CERT_FILE": str(stub.ca_path),
            "REQUESTS_CA_BUNDLE": str(stub.ca_path),
            **(settings or {}),
        })
        self.stack = LocalStack(state_dir=state_dir, port=0, users={}, environ=environ).start()
        assert self.stack.host is not None
        self.base_url = self.stack.base_url
        self.headers = {"x-functions-key": self.stack.host.function_key}

    def idle(self) -> bool:
        counts = self.stack.queue_counts()
        return all(counts.get(state, 0) == 0 for state in ("active", "scheduled", "locked"))

    def processes(self) -> dict[str, int]:
        found = {"launcher (this process)": os.getpid()}
        if self.stack.host is not None and self.stack.host.proc is not None:
            found |= _with_children("function host", self.stack.host.proc.pid)
        if self.stack.azurite is not None:
            found |= _with_children("Azurite", self.stack.azurite.process.pid)
        return found

    def stop(self) -> None:
        self.stack.stop()


class Minimal(System):
    name = "minimal"

    def __init__(self, stub: RunningStub) -> None:
        env = {**os.environ, "BENCH_GRAPH_ENDPOINT": stub.graph_endpoint, "BENCH_AUTH_ENDPOINT": stub.auth_endpoint,
               "BENCH_TENANT": stub.tenant, "BENCH_CLIENT_ID": stub.client_id,
               "BENCH_CLIENT_SECRET": stub.client_secret, "BENCH_CA_FILE": str(stub.ca_path)}
        self.process = subprocess.Popen([sys.executable, "-m", "benchmarks.minimal"], cwd=ROOT, env=env,
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        match = re.match(r"minimal ready (\S+)", line)
        if match is None:
            self.stop()
            raise RuntimeError(f"the minimal implementation did not start: {line!r}")
        self.base_url = match.group(1)
        self.headers = {}

    def idle(self) -> bool:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            pending: Any = client.get("/_bench/idle").raise_for_status().json()["pending"]
        return int(pending) == 0

    def processes(self) -> dict[str, int]:
        return {"minimal (one process)": self.process.pid}

    def stop(self) -> None:
        stop_process(self.process)
