"""Run the host as a subprocess, as end-to-end tests do (so a test can kill -9 it and restart)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from .keys import FUNCTION_KEY_ENV, MASTER_KEY_ENV

__all__ = ["HostProcess", "HostStartError"]

_READY = re.compile(r"^funchost ready (\S+) \((\d+) functions\)")


class HostStartError(RuntimeError):
    """The host exited or did not get ready in time; ``output`` holds what it printed."""

    def __init__(self, message: str, output: str, returncode: int | None) -> None:
        super().__init__(f"{message}\n--- funchost output ---\n{output}")
        self.output = output
        self.returncode = returncode


class HostProcess:
    """``python -m local.funchost`` in ``cwd`` (the repository root), stdout and stderr captured.

    Every line the host prints is kept (``output``), appended to ``log_path`` when given, and echoed
    to this process's stdout when ``stream_log`` is set, as ``func start`` shows its log.
    """

    def __init__(
        self,
        app_module: str = "function_app",
        *,
        cwd: str | Path = ".",
        port: int = 0,
        env: Mapping[str, str] | None = None,
        settings_file: str | None = None,
        state_dir: str | Path | None = None,
        python: str = sys.executable,
        extra_args: Sequence[str] = (),
        log_path: str | Path | None = None,
        stream_log: bool = False,
    ) -> None:
        self.cwd = Path(cwd).resolve()
        self.env = dict(os.environ if env is None else env)
        self.state_dir = Path(state_dir) if state_dir else self.cwd / ".local"
        self.args = [python, "-m", "local.funchost", "--app", app_module, "--port", str(port)]
        self.args += ["--state-dir", str(self.state_dir)]
        if settings_file is not None:
            self.args += ["--settings", settings_file]
        self.args += list(extra_args)
        self.log_path = Path(log_path) if log_path is not None else None
        self.stream_log = stream_log
        self.proc: subprocess.Popen[str] | None = None
        self.base_url = ""
        self._lines: list[str] = []
        self._ready = threading.Event()

    @property
    def output(self) -> str:
        return "".join(self._lines)

    def start(self, timeout: float = 60) -> HostProcess:
        """Start and wait for the ready line; raises HostStartError if the host exits first."""
        self._ready.clear()
        self.base_url = ""
        self.proc = subprocess.Popen(
            self.args,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        log = None
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            log = self.log_path.open("a", encoding="utf-8")  # a restart appends to the same log
        threading.Thread(target=self._read, args=(self.proc, log), daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self.proc.poll() is not None:
                time.sleep(0.2)  # let the reader collect the last lines
                raise HostStartError("funchost exited before it was ready", self.output, self.proc.returncode)
            if time.monotonic() > deadline:
                self.kill()
                raise HostStartError("funchost was not ready in time", self.output, None)
        return self

    def _read(self, proc: subprocess.Popen[str], log: TextIO | None) -> None:
        # Drained on a thread, so a chatty host never blocks on a full pipe.
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                self._lines.append(line)
                if log is not None:
                    log.write(line)
                    log.flush()
                if self.stream_log:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                match = _READY.match(line)
                if match:
                    self.base_url = match.group(1)
                    self._ready.set()
        finally:
            proc.stdout.close()  # EOF: the host exited
            if log is not None:
                log.close()

    def _keys(self) -> dict[str, str]:
        if self.env.get(MASTER_KEY_ENV) and self.env.get(FUNCTION_KEY_ENV):
            return {"masterKey": self.env[MASTER_KEY_ENV], "functionKey": self.env[FUNCTION_KEY_ENV]}
        stored: dict[str, str] = json.loads((self.state_dir / "host-keys.json").read_text())
        return {
            "masterKey": self.env.get(MASTER_KEY_ENV) or stored["masterKey"],
            "functionKey": self.env.get(FUNCTION_KEY_ENV) or stored["functionKey"],
        }

    @property
    def master_key(self) -> str:
        return self._keys()["masterKey"]

    @property
    def function_key(self) -> str:
        return self._keys()["functionKey"]

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM and wait: the host settles in-flight messages before it exits."""
        return self._end(signal.SIGTERM, timeout)

    def kill(self) -> int:
        """SIGKILL: locks held by the host stay until they expire, as after a crash."""
        return self._end(signal.SIGKILL, 30)

    def _end(self, sig: int, timeout: float) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def __enter__(self) -> HostProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
