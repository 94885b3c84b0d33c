"""What issue 4 asks of the footprint, read from the parsed Bicep: queues, vault, site hardening, roles,
and parameter files that fit main.bicep."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.infra.iac import INFRA

MODULES = INFRA / "modules"
# Built-in role definition ids.
SERVICE_BUS_DATA_SENDER = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"
SERVICE_BUS_DATA_RECEIVER = "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0"
STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
STORAGE_TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
KEY_VAULT_SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
# Parameters an administrator passes on the command line (docs/deployment.md), not in the files.
COMMAND_LINE_PARAMETERS = {"graphTenantId", "graphClientId"}


def _tree(parsed_bicep: dict[Path, dict[str, Any]], path: Path) -> dict[str, Any]:
    outcome = parsed_bicep[path]
    assert "json" in outcome, outcome.get("error")
    return outcome["json"]


def _resources_of(tree: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [r for r in tree.get("resources", {}).values() if r["type"] == resource_type]


def _body(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource's body, under a loop or condition if it has one."""
    config = resource["config"]
    return config["config"] if "loop_type" in config or "condition" in config else config


class TestServiceBus:
    def test_both_queues_with_sessions_duplicate_detection_and_dead_lettering(
        self, parsed_bicep: dict[Path, dict[str, Any]]
    ) -> None:
        tree = _tree(parsed_bicep, MODULES / "servicebus.bicep")
        assert tree["parameters"]["queueNames"]["default"] == [
            "planning-events", "graph-notifications", "outbound-events"]
        (queues,) = _resources_of(tree, "Microsoft.ServiceBus/namespaces/queues")
        properties = _body(queues)["properties"]
        assert properties["requiresSession"] is True
        assert properties["requiresDuplicateDetection"] is True
        assert properties["maxDeliveryCount"] == 10
        assert properties["deadLetteringOnMessageExpiration"] is True
        assert tree["parameters"]["lockDuration"]["default"] in ("PT1M", "PT2M", "PT5M")
        assert tree["parameters"]["duplicateDetectionWindow"]["default"] == "PT10M"

    def test_standard_or_above_and_no_shared_access_keys(self, parsed_bicep: dict[Path, dict[str, Any]]) -> None:
        tree = _tree(parsed_bicep, MODULES / "servicebus.bicep")
        (namespace,) = _resources_of(tree, "Microsoft.ServiceBus/namespaces")
        assert tree["parameters"]["skuName"]["default"] == "Standard"
        assert namespace["config"]["properties"]["disableLocalAuth"] is True
        assert namespace["config"]["properties"]["minimumTlsVersion"] == "1.2"


class TestKeyVault:
    def test_rbac_soft_delete_and_purge_protection(self, parsed_bicep: dict[Path, dict[str, Any]]) -> None:
        (vault,) = _resources_of(_tree(parsed_bicep, MODULES / "keyvault.bicep"), "Microsoft.KeyVault/vaults")
        properties = vault["config"]["properties"]
        assert properties["enableRbacAuthorization"] is True
        assert properties["enableSoftDelete"] is True
        assert properties["enablePurgeProtection"] is True


class TestStorage:
    def test_identity_only_and_tls_12(self, parsed_bicep: dict[Path, dict[str, Any]]) -> None:
        (account,) = _resources_of(_tree(parsed_bicep, MODULES / "storage.bicep"), "Microsoft.Storage/storageAccounts")
        properties = account["config"]["properties"]
        assert properties["allowSharedKeyAccess"] is False
        assert properties["allowBlobPublicAccess"] is False
        assert properties["minimumTlsVersion"] == "TLS1_2"
        assert properties["supportsHttpsTrafficOnly"] is True


class TestFunctionApp:
    def test_flex_consumption_python_311_with_elastic_premium_as_an_option(
        self, parsed_bicep: dict[Path, dict[str, Any]]
    ) -> None:
        tree = _tree(parsed_bicep, MODULES / "functionapp.bicep")
        (site,) = _resources_of(tree, "Microsoft.Web/sites")
        assert site["api_version"] >= "2023-12-01"
        assert site["config"]["kind"] == "functionapp,linux"
        hosting = tree["parameters"]["hostingPlan"]
        assert hosting["default"] == "FlexConsumption"
        assert {"type": "allowed", "argument": ["FlexConsumption", "ElasticPremium"]} in hosting["decorators"]
        flex = tree["variables"]["flexFunctionAppConfig"]["value"]
        assert flex["runtime"] == {"name": "python", "version": "3.11"}
        assert flex["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
        assert tree["variables"]["flexSku"]["value"] == {"name": "FC1", "tier": "FlexConsumption"}

    def test_https_only_tls_12_no_ftp_no_basic_auth_publishing(self, parsed_bicep: dict[Path, dict[str, Any]]) -> None:
        tree = _tree(parsed_bicep, MODULES / "functionapp.bicep")
        (site,) = _resources_of(tree, "Microsoft.Web/sites")
        properties = site["config"]["properties"]
        assert properties["httpsOnly"] is True
        assert properties["siteConfig"]["minTlsVersion"] == "1.2"
        assert properties["siteConfig"]["ftpsState"] == "Disabled"
        assert properties["keyVaultReferenceIdentity"] == "identityId"
        assert site["config"]["identity"]["type"] == "UserAssigned"
        policies = _resources_of(tree, "Microsoft.Web/sites/basicPublishingCredentialsPolicies")
        assert {p["config"]["name"]: p["config"]["properties"]["allow"] for p in policies} == {
            "ftp": False,
            "scm": False,
        }


class TestRoles:
    def test_the_app_gets_only_the_roles_it_needs_each_on_one_resource(
        self, parsed_bicep: dict[Path, dict[str, Any]]
    ) -> None:
        tree = _tree(parsed_bicep, MODULES / "rbac.bicep")
        roles = tree["variables"]["roles"]["value"]
        granted: dict[str, tuple[str, str | None]] = {}
        for assignment in _resources_of(tree, "Microsoft.Authorization/roleAssignments"):
            body = _body(assignment)
            if body["properties"]["principalId"] != "appPrincipalId":
                continue
            role_key = body["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
            role = roles[role_key["operator"]["operands"]["operand_2"]]
            granted[role] = (body["scope"], assignment["config"].get("condition"))
        assert granted == {
            SERVICE_BUS_DATA_SENDER: ("serviceBus", None),
            SERVICE_BUS_DATA_RECEIVER: ("serviceBus", None),
            STORAGE_BLOB_DATA_OWNER: ("storage", None),
            STORAGE_TABLE_DATA_CONTRIBUTOR: ("storage", None),
            KEY_VAULT_SECRETS_USER: ("vault", None),
            KEY_VAULT_SECRETS_OFFICER: ("vault", "enableSecretRotation"),
        }


class TestParameterFiles:
    @pytest.mark.parametrize("env", ["dev", "prod"])
    def test_every_parameter_is_declared_and_every_required_one_is_given(
        self, env: str, parsed_bicep: dict[Path, dict[str, Any]]
    ) -> None:
        declared = _tree(parsed_bicep, INFRA / "main.bicep")["parameters"]
        given = json.loads((INFRA / "parameters" / f"{env}.json").read_text())["parameters"]
        assert not set(given) - set(declared), f"unknown parameters in {env}.json: {set(given) - set(declared)}"
        required = {name for name, spec in declared.items() if spec.get("default") is None}
        missing = required - set(given) - COMMAND_LINE_PARAMETERS
        assert not missing, f"{env}.json lacks required parameters {sorted(missing)}"
        assert given["environmentName"]["value"] == env
        for name, entry in given.items():
            allowed = [d["argument"] for d in declared[name]["decorators"] if d["type"] == "allowed"]
            if allowed:
                assert entry["value"] in allowed[0], f"{env}.json: {name}={entry['value']!r} not in {allowed[0]}"
