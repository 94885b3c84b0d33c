"""Helpers for the infrastructure checks: the IaC tools live in their own virtualenv, ``.venv-iac``.

checkov pins many packages that clash with the app's pins, so ``scripts/test`` installs
``requirements-iac.txt`` into ``.venv-iac`` and these tests call its executables as subprocesses.
Under CI (``CI=true``) a missing tool fails the test; elsewhere it skips with the reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
IAC_VENV = Path(os.environ.get("CONNECTOR_IAC_VENV", REPO / ".venv-iac"))

__all__ = ["IAC_VENV", "INFRA", "PYCEP_SCRIPT", "REPO", "bicep_files", "iac_executable", "in_ci", "missing_tool"]

# Parses every given .bicep file with pycep and prints {path: {"json": ...} | {"error": ...}}.
PYCEP_SCRIPT = r"""
import json, sys
from pathlib import Path
from pycep import BicepParser

out = {}
for name in sys.argv[1:]:
    try:
        out[name] = {"json": BicepParser().parse(file_path=Path(name))}
    except Exception as exc:  # every failure is reported per file
        out[name] = {"error": f"{type(exc).__name__}: {exc}"}
print(json.dumps(out, default=str))
"""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing_tool(reason: str) -> None:
    """Fail under CI (a green run must have run the check), skip with the reason elsewhere."""
    message = (
        f"{reason}; create it with: "
        "python3 -m venv .venv-iac && .venv-iac/bin/pip install -r requirements-iac.txt"
    )
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def iac_executable(name: str) -> Path:
    path = IAC_VENV / "bin" / name
    if not path.exists():
        missing_tool(f"{path} is missing")
    return path


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))
