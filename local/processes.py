"""Child processes of the local tools (Azurite, the benchmark's stand-ins): stopped the same way everywhere."""

from __future__ import annotations

import subprocess
from typing import Any

__all__ = ["stop_process"]


def stop_process(process: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """Terminate, wait up to ``grace`` seconds, kill if it has not ended; close its captured stdout."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()
