"""Fixtures for the infrastructure checks (tools from ``.venv-iac``; see ``tests/infra/iac.py``)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infra.iac import IAC_VENV, PYCEP_SCRIPT, bicep_files, iac_executable, missing_tool


@pytest.fixture(scope="session")
def iac_python() -> Path:
    python = iac_executable("python")
    probe = subprocess.run([str(python), "-c", "import pycep, yaml"], capture_output=True, text=True)
    if probe.returncode != 0:
        missing_tool(f"pycep-parser or PyYAML is not importable in {IAC_VENV}: {probe.stderr.strip()}")
    return python


@pytest.fixture(scope="session")
def checkov_bin() -> Path:
    return iac_executable("checkov")


@pytest.fixture(scope="session")
def parsed_bicep(iac_python: Path) -> dict[Path, dict[str, Any]]:
    """Every .bicep file under infra/, parsed once: {path: {"json": tree} or {"error": message}}."""
    files = bicep_files()
    result = subprocess.run(
        [str(iac_python), "-c", PYCEP_SCRIPT, *map(str, files)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, f"pycep run failed:\n{result.stderr}"
    raw = json.loads(result.stdout)
    return {Path(name): value for name, value in raw.items()}


@pytest.fixture(scope="session")
def load_yaml(iac_python: Path):
    """Parse a YAML file with PyYAML from .venv-iac (the app's venv does not carry PyYAML)."""

    def load(path: Path) -> Any:
        script = "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))"
        result = subprocess.run([str(iac_python), "-c", script, str(path)], capture_output=True, text=True,
                                check=False)
        assert result.returncode == 0, f"{path} is not valid YAML:\n{result.stderr}"
        return json.loads(result.stdout)

    return load
