"""host.json is tuned for this workload; .funcignore keeps everything but the app out of the package."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.funchost.settings import parse_timespan
from local.package import app_files, funcignore_patterns
from local.package import ignored as _ignored
from shared.config import DEFAULT_COALESCE_WINDOW_MS
from tests.infra.iac import REPO


@pytest.fixture(scope="module")
def host() -> dict[str, Any]:
    return json.loads((REPO / "host.json").read_text())


class TestHostJson:
    def test_runtime_version_and_extension_bundle_for_flex_consumption(self, host: dict[str, Any]) -> None:
        assert host["version"] == "2.0"
        assert host["extensionBundle"] == {
            "id": "Microsoft.Azure.Functions.ExtensionBundle",
            "version": "[4.*, 5.0.0)",  # Flex Consumption needs a bundle below 5 for non-C# apps
        }

    def test_service_bus_sessions_settlement_and_lock_renewal(self, host: dict[str, Any]) -> None:
        service_bus = host["extensions"]["serviceBus"]
        assert service_bus["maxConcurrentSessions"] == 64  # docs/scale.md "host.json values"
        assert service_bus["autoCompleteMessages"] is True
        assert service_bus["prefetchCount"] == 0
        assert service_bus["maxConcurrentCalls"] >= 1

    def test_a_session_slot_moves_on_well_before_a_debounced_copy_is_due(self, host: dict[str, Any]) -> None:
        # Most sessions hold one message, and an event's debounced copy is due a coalescing window later: an idle
        # wait as long as the window would park each slot until then (docs/scale.md).
        window = DEFAULT_COALESCE_WINDOW_MS / 1000
        assert 0 < _seconds(host["extensions"]["serviceBus"]["sessionIdleTimeout"]) <= window / 2

    def test_no_function_level_retry(self, host: dict[str, Any]) -> None:
        # Service Bus retries by redelivery up to maxDeliveryCount; the app reschedules throttled messages.
        assert "retry" not in host

    def test_function_timeout_fits_the_lock_renewal(self, host: dict[str, Any]) -> None:
        # The lock is renewed for as long as a function may run, so no other instance takes its session meanwhile.
        timeout = _seconds(host["functionTimeout"])
        assert 0 < timeout <= 30 * 60
        assert _seconds(host["extensions"]["serviceBus"]["maxAutoLockRenewalDuration"]) >= timeout

    def test_logging_levels_and_sampling(self, host: dict[str, Any]) -> None:
        levels = host["logging"]["logLevel"]
        assert levels["azure"] == "Warning"
        assert levels["Host.Results"] == "Information"
        assert levels["Function"] == "Information"
        sampling = host["logging"]["applicationInsights"]["samplingSettings"]
        assert sampling["isEnabled"] is True
        assert set(sampling["excludedTypes"].split(";")) >= {"Request", "Exception"}


def _seconds(timespan: str) -> float:
    seconds = parse_timespan(timespan)  # as the local host reads host.json
    assert seconds is not None
    return seconds


@pytest.fixture(scope="module")
def funcignore() -> list[str]:
    return funcignore_patterns(REPO)


class TestFuncignore:
    @pytest.mark.parametrize("path", [
        "tests/unit/test_plan.py", "local/graphsim/app.py", "infra/main.bicep", "docs/deployment.md",
        "scripts/test", "benchmarks/bench_plan.py", ".venv/bin/python", ".venv-iac/bin/checkov",
        "node_modules/azurite/package.json", ".local/queue.sqlite", ".github/workflows/ci-deploy.yml",
        ".ci/run", "local.settings.json", "requirements-dev.txt", "requirements-iac.txt", "pyproject.toml",
        "requirements.in", "requirements-dev.in", ".local/package/connector.zip",
        "package.json", "package-lock.json", "README.md", "shared/__pycache__/config.cpython-311.pyc",
    ])
    def test_tooling_stays_out_of_the_package(self, path: str, funcignore: list[str]) -> None:
        assert _ignored(path, funcignore), f"{path} would be deployed"

    @pytest.mark.parametrize("path", [
        "function_app.py", "host.json", "requirements.txt", "shared/config.py", "shared/domain/planning/plan.py",
        "shared/schemas/openapi.json", "triggers_timers.py",
    ])
    def test_the_app_is_deployed(self, path: str, funcignore: list[str]) -> None:
        assert not _ignored(path, funcignore), f"{path} would be left out of the package"


class TestPackage:
    def test_the_package_carries_the_app_and_the_lock_only(self) -> None:
        """What local/package.py zips (and measures) is what .funcignore lets through."""
        files = app_files(REPO)
        assert {"function_app.py", "host.json", "requirements.txt", "shared/config.py"} <= set(files)
        strays = [f for f in files if not (f.startswith("shared/") or f.endswith(".py") or f in (
            "host.json", "requirements.txt", ".funcignore"))]
        assert not strays, f"unexpected files in the package: {strays}"
