"""The GitHub Actions workflow is valid YAML: test, then deploy with OpenID Connect and no stored credential."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra.iac import REPO

WORKFLOW = REPO / ".github" / "workflows" / "ci-deploy.yml"


@pytest.fixture(scope="module")
def workflow(load_yaml: Any) -> dict[str, Any]:
    return load_yaml(WORKFLOW)


def _triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as true.
    return workflow.get("on") or workflow.get("true") or workflow.get(True) or {}


def _runs(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def _uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in job["steps"] if step.get("uses", "").lower().startswith(action.lower() + "@")]


class TestWorkflow:
    def test_it_runs_on_push_to_main_pull_requests_and_by_hand(self, workflow: dict[str, Any]) -> None:
        on = _triggers(workflow)
        assert on["push"]["branches"] == ["main"]
        assert "workflow_dispatch" in on
        assert "pull_request" in on

    def test_the_test_job_runs_the_projects_test_command(self, workflow: dict[str, Any]) -> None:
        test = workflow["jobs"]["test"]
        assert _uses(test, "actions/checkout")
        assert "./scripts/test" in _runs(test)

    def test_deploy_needs_test_and_runs_only_for_main_or_by_hand(self, workflow: dict[str, Any]) -> None:
        deploy = workflow["jobs"]["deploy"]
        needs = deploy["needs"]
        assert needs == "test" or needs == ["test"]
        assert "refs/heads/main" in deploy["if"] and "workflow_dispatch" in deploy["if"]

    def test_deploy_signs_in_with_openid_connect(self, workflow: dict[str, Any]) -> None:
        deploy = workflow["jobs"]["deploy"]
        assert deploy["permissions"]["id-token"] == "write"
        logins = _uses(deploy, "azure/login")
        assert len(logins) == 1
        login = logins[0]["with"]
        for key in ("client-id", "tenant-id", "subscription-id"):
            assert login[key].startswith("${{ vars."), f"{key} must come from a repository variable"
        assert "creds" not in login, "no stored service principal secret"

    def test_no_secret_is_used_anywhere(self) -> None:
        assert "secrets." not in WORKFLOW.read_text(), "the workflow needs no stored secret"

    def test_deploy_provisions_then_publishes(self, workflow: dict[str, Any]) -> None:
        deploy = workflow["jobs"]["deploy"]
        steps = [step.get("run", "") + step.get("uses", "") for step in deploy["steps"]]
        provision = next(i for i, s in enumerate(steps) if "az deployment group create" in s)
        publish = next(i for i, s in enumerate(steps) if "func azure functionapp publish" in s
                       or s.lower().startswith("azure/functions-action@"))
        login = next(i for i, s in enumerate(steps) if s.lower().startswith("azure/login@"))
        assert login < provision < publish
        assert "infra/main.bicep" in steps[provision] and "infra/parameters/" in steps[provision]

    def test_choices_come_from_the_parameter_file_only(self, workflow: dict[str, Any]) -> None:
        """A choice on the command line (or left to a default) would reset what the parameter file says."""
        deploy = workflow["jobs"]["deploy"]
        (command,) = [s["run"] for s in deploy["steps"] if "az deployment group create" in s.get("run", "")]
        assert '--parameters "infra/parameters/$ENVIRONMENT.json"' in command
        named = set(re.findall(r"\b([A-Za-z]+)=\"\$", command))
        assert named == {"graphTenantId", "graphClientId"}, f"parameters named on the command line: {named}"

    def test_elastic_premium_uploads_the_package_it_runs_from(self, workflow: dict[str, Any]) -> None:
        deploy = workflow["jobs"]["deploy"]
        (premium,) = [s for s in deploy["steps"] if "ElasticPremium" in s.get("if", "")]
        run = premium["run"]
        assert "python -m local.package" in run
        assert "az storage blob upload --auth-mode login" in run and '"$PACKAGE_URL"' in run
        assert "az functionapp restart" in run and "syncfunctiontriggers" in run
        (flex,) = [s for s in deploy["steps"] if "func azure functionapp publish" in s.get("run", "")]
        assert "FlexConsumption" in flex["if"]

    def test_every_parameter_file_the_workflow_can_pick_exists(self, workflow: dict[str, Any]) -> None:
        options = _triggers(workflow)["workflow_dispatch"]["inputs"]["environment"]["options"]
        for environment in options:
            assert Path(REPO / "infra" / "parameters" / f"{environment}.json").exists()
