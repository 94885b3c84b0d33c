"""Every Bicep file parses (pycep-parser) and passes checkov's Bicep checks; each suppression says why."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infra.iac import INFRA, REPO, bicep_files

SKIP_COMMENT = re.compile(r"//\s*checkov:skip=(?P<ids>[A-Z0-9_,]+)(?P<reason>:.*)?$")
EXPECTED_FILES = {
    "main.bicep",
    "modules/alerts.bicep",
    "modules/appsettings.bicep",
    "modules/eventgrid.bicep",
    "modules/functionapp.bicep",
    "modules/identity.bicep",
    "modules/keyvault.bicep",
    "modules/monitoring.bicep",
    "modules/rbac.bicep",
    "modules/servicebus.bicep",
    "modules/storage.bicep",
    "modules/workbook.bicep",
}


def _inline_skips() -> list[tuple[str, int, str, str]]:
    """(file relative to infra/, line, check id, reason) for every inline suppression."""
    skips = []
    for path in bicep_files():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = SKIP_COMMENT.search(line)
            if match:
                reason = (match.group("reason") or "")[1:].strip()
                for check_id in match.group("ids").split(","):
                    skips.append((path.relative_to(INFRA).as_posix(), number, check_id, reason))
    return skips


@pytest.fixture(scope="session")
def checkov_report(checkov_bin: Path) -> dict[str, Any]:
    result = subprocess.run(
        [str(checkov_bin), "--directory", str(INFRA), "--framework", "bicep", "--output", "json",
         "--skip-download", "--compact"],
        capture_output=True, text=True, timeout=600, cwd=REPO, check=False,
    )
    # checkov exits 1 when a check fails; anything else (2 and up) is a crash.
    assert result.returncode in (0, 1), f"checkov crashed (exit {result.returncode}):\n{result.stderr[-4000:]}"
    report = json.loads(result.stdout)
    if isinstance(report, list):  # one entry per framework when several ran
        report = next(r for r in report if r.get("check_type") == "bicep")
    return report


class TestBicepFiles:
    def test_the_expected_modules_exist(self) -> None:
        found = {p.relative_to(INFRA).as_posix() for p in bicep_files()}
        assert found >= EXPECTED_FILES, f"missing: {sorted(EXPECTED_FILES - found)}"

    @pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.relative_to(INFRA).as_posix())
    def test_every_bicep_file_parses(self, path: Path, parsed_bicep: dict[Path, dict[str, Any]]) -> None:
        outcome = parsed_bicep[path]
        # pycep-parser 0.5 also rejects newer syntax (user-defined `func`, multi-line `? :`) and more than
        # four comment lines in a row inside a resource: split long runs of checkov:skip lines.
        assert "error" not in outcome, f"{path.relative_to(REPO)} does not parse: {outcome.get('error')}"

    def test_every_module_reference_points_to_a_file(self, parsed_bicep: dict[Path, dict[str, Any]]) -> None:
        main = INFRA / "main.bicep"
        modules = parsed_bicep[main]["json"].get("modules", {})
        assert modules, "main.bicep composes no modules"
        for name, module in modules.items():
            target = (main.parent / module["detail"]["path"]).resolve()
            assert target.exists(), f"module {name} points to missing {module['detail']['path']}"

    def test_every_module_gets_exactly_the_parameters_it_declares(
        self, parsed_bicep: dict[Path, dict[str, Any]]
    ) -> None:
        """What `bicep build` would catch first: unknown parameters and missing required ones."""
        main = INFRA / "main.bicep"
        problems = []
        for name, module in parsed_bicep[main]["json"]["modules"].items():
            target = (main.parent / module["detail"]["path"]).resolve()
            declared = parsed_bicep[target]["json"].get("parameters", {})
            config = module["config"]
            body = config["config"] if "condition" in config else config  # `= if (...) {...}` nests the body
            given = set(body.get("params", {}))
            required = {p for p, spec in declared.items() if spec.get("default") is None}
            if unknown := given - set(declared):
                problems.append(f"{name}: unknown parameters {sorted(unknown)}")
            if missing := required - given:
                problems.append(f"{name}: required parameters not given {sorted(missing)}")
        assert not problems, "\n".join(problems)


class TestCheckov:
    def test_checkov_scanned_the_resources(self, checkov_report: dict[str, Any]) -> None:
        summary = checkov_report["summary"]
        assert summary["parsing_errors"] == 0, f"checkov could not parse: {summary}"
        assert summary["passed"] > 0, f"checkov checked nothing: {summary}"

    def test_no_checkov_check_fails(self, checkov_report: dict[str, Any]) -> None:
        failed = [
            f"{c['check_id']} {c['check_name']} — {c['resource']} ({c['file_path']}:{c['file_line_range']})"
            for c in checkov_report["results"]["failed_checks"]
        ]
        assert not failed, "checkov failures (fix them, or suppress inline with a reason):\n" + "\n".join(failed)

    def test_every_suppression_gives_a_reason(self) -> None:
        bare = [f"{f}:{line} {cid}" for f, line, cid, reason in _inline_skips() if len(reason) < 20]
        assert not bare, "checkov:skip without a reason: " + ", ".join(bare)

    def test_every_suppression_is_still_needed(self, checkov_report: dict[str, Any]) -> None:
        skipped = {
            (c["file_path"].lstrip("/"), c["check_id"]) for c in checkov_report["results"]["skipped_checks"]
        }
        stale = [f"{f}:{line} {cid}" for f, line, cid, _ in _inline_skips() if (f, cid) not in skipped]
        assert not stale, "suppressions of checks that no longer fire (remove them): " + ", ".join(stale)
