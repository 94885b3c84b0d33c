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
# Follows the resource group; not a choice a parameter file makes.
DERIVED_PARAMETERS = {"location"}
# Choices whose silent default would undo an operator's setup on the next deployment.
CHOICES_WITHOUT_DEFAULT = {"graphCredentialKind", "enableSecretRotation", "outboundWebhookUrl"}


def _tree(parsed_bicep: dict[Path, dict[str, Any]], path: Path) -> dict[str, Any]:
    outcome = parsed_bicep[path]
    assert "json" in outcome, outcome.get("error")
    return outcome["json"]


def _resources_of(tree: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [r for r in tree.get("resources", {}).values() if r["type"] == resource_type]


def _evaluate(expr: Any, names: dict[str, Any]) -> Any:
    """Evaluate the small subset of Bicep expressions pycep renders for variables: names (a bare string that is a
    known name), literals, !, ==, a ? b : c, object.property."""
    if isinstance(expr, str):
        return names.get(expr, expr)
    if isinstance(expr, dict) and "operator" in expr:
        kind, operands = expr["operator"]["type"], expr["operator"]["operands"]
        if kind == "not":
            return not _evaluate(operands["bool_value"], names)
        if kind == "equals":
            return _evaluate(operands["operand_1"], names) == _evaluate(operands["operand_2"], names)
        if kind == "conditional":
            branch = "true_value" if _evaluate(operands["condition"], names) else "false_value"
            return _evaluate(operands[branch], names)
        if kind == "property_accessor":
            return _evaluate(operands["operand_1"], names)[operands["operand_2"]]
        raise AssertionError(f"cannot evaluate {kind}")
    return expr


def _evaluate_always_ready(expr: Any, count: int) -> Any:
    operands = expr["operator"]["operands"]
    assert expr["operator"]["type"] == "conditional"
    condition = operands["condition"]["operator"]
    assert condition["type"] == "greater_than" and condition["operands"]["operand_1"] == "flexAlwaysReadyHttpInstances"
    chosen = operands["true_value"] if count > condition["operands"]["operand_2"] else operands["false_value"]
    return [{k: count if v == "flexAlwaysReadyHttpInstances" else v for k, v in item.items()} for item in chosen]


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

    def test_flex_keeps_the_http_group_always_ready_by_default(self, parsed_bicep: dict[Path, dict[str, Any]]) -> None:
        """Graph validates a subscription's endpoint within 10 s and wants notifications answered within 3 s."""
        main = _tree(parsed_bicep, INFRA / "main.bicep")
        assert main["parameters"]["flexAlwaysReadyHttpInstances"]["default"] == 1
        assert main["modules"]["functionApp"]["config"]["params"]["flexAlwaysReadyHttpInstances"] == (
            "flexAlwaysReadyHttpInstances")
        tree = _tree(parsed_bicep, MODULES / "functionapp.bicep")
        always_ready = tree["variables"]["flexFunctionAppConfig"]["value"]["scaleAndConcurrency"]["alwaysReady"]
        for count, expected in ((1, [{"name": "http", "instanceCount": 1}]), (0, [])):
            got = _evaluate_always_ready(always_ready, count)
            assert got == expected, f"{count} always-ready instances give {got}"

    def test_elastic_premium_runs_from_a_blob_package_without_azure_files(
        self, parsed_bicep: dict[Path, dict[str, Any]]
    ) -> None:
        """learn.microsoft.com/azure/azure-functions/storage-considerations#create-an-app-without-azure-files."""
        tree = _tree(parsed_bicep, MODULES / "functionapp.bicep")
        premium = tree["variables"]["elasticPremiumOnlySettings"]["value"]
        assert premium["WEBSITE_RUN_FROM_PACKAGE"] == "packageUrl"
        assert premium["WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID"] == "identityId"
        assert tree["variables"]["packageUrl"]["value"] == "${deploymentContainerUrl}/${elasticPremiumPackageBlobName}"
        text = (MODULES / "functionapp.bicep").read_text()
        for setting in ("WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", "WEBSITE_CONTENTSHARE",
                        "SCM_DO_BUILD_DURING_DEPLOYMENT", "ENABLE_ORYX_BUILD"):
            assert setting not in text, f"{setting}: no content share and no remote build on Elastic Premium"
        main = _tree(parsed_bicep, INFRA / "main.bicep")
        assert {"packageUrl", "hostingPlan"} <= set(main["outputs"])

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


def _role_of(assignment: dict[str, Any], roles: dict[str, str]) -> str:
    role_key = _body(assignment)["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
    return roles[role_key["operator"]["operands"]["operand_2"]]


def _index_scope(scope: Any) -> str | None:
    """'queues' for scope: queues[i] (one assignment per element of a loop)."""
    if isinstance(scope, dict) and scope.get("operator", {}).get("type") == "index_accessor":
        return str(scope["operator"]["operands"]["operand_1"])
    return None


class TestRoles:
    def test_the_app_gets_only_the_roles_it_needs_each_on_the_smallest_scope(
        self, parsed_bicep: dict[Path, dict[str, Any]]
    ) -> None:
        tree = _tree(parsed_bicep, MODULES / "rbac.bicep")
        roles = tree["variables"]["roles"]["value"]
        granted: dict[str, tuple[Any, Any]] = {}
        for assignment in _resources_of(tree, "Microsoft.Authorization/roleAssignments"):
            body = _body(assignment)
            if body["properties"]["principalId"] != "appPrincipalId":
                continue
            scope = _index_scope(body["scope"]) or body["scope"]
            loop = assignment["config"].get("loop_type")
            per = loop["detail"]["array_name"] if loop else None
            granted[_role_of(assignment, roles)] = (scope, per or assignment["config"].get("condition"))
        rotation = {"operator": {"type": "not", "operands": {"bool_value": {"function": {
            "type": "empty", "parameters": {"item_to_test": "rotatedSecretName"}}}}}}
        assert granted == {
            SERVICE_BUS_DATA_SENDER: ("queues", "queueNames"),
            SERVICE_BUS_DATA_RECEIVER: ("queues", "queueNames"),
            STORAGE_BLOB_DATA_OWNER: ("storage", None),
            STORAGE_TABLE_DATA_CONTRIBUTOR: ("storage", None),
            KEY_VAULT_SECRETS_USER: ("vault", None),
            KEY_VAULT_SECRETS_OFFICER: ("rotatedSecret", rotation),
        }

    def test_service_bus_roles_are_on_each_of_the_connectors_queues(
        self, parsed_bicep: dict[Path, dict[str, Any]]
    ) -> None:
        tree = _tree(parsed_bicep, MODULES / "rbac.bicep")
        (queues,) = [r for r in _resources_of(tree, "Microsoft.ServiceBus/namespaces/queues") if r["existing"]]
        assert _body(queues)["parent"] == "serviceBus" and _body(queues)["name"] == "queueName"
        assert queues["config"]["loop_type"]["detail"]["array_name"] == "queueNames"
        main = _tree(parsed_bicep, INFRA / "main.bicep")
        given = main["modules"]["rbac"]["config"]["params"]["queueNames"]
        assert given["operator"]["operands"]["operand_1"] == "serviceBus"
        service_bus = _tree(parsed_bicep, MODULES / "servicebus.bicep")
        assert service_bus["outputs"]["queueNames"]["value"] == "queueNames"

    def test_secrets_officer_is_on_the_one_secret_the_app_rotates(
        self, parsed_bicep: dict[Path, dict[str, Any]]
    ) -> None:
        tree = _tree(parsed_bicep, MODULES / "rbac.bicep")
        (secret,) = _resources_of(tree, "Microsoft.KeyVault/vaults/secrets")
        assert secret["existing"] is True
        assert secret["config"]["parent"] == "vault"
        main = _tree(parsed_bicep, INFRA / "main.bicep")
        assert main["modules"]["rbac"]["config"]["params"]["rotatedSecretName"] == "rotatedSecretName"
        variables = {name: v["value"] for name, v in main["variables"].items()}
        expected = {
            ("secret", True): "graph-client-secret",
            ("certificate", True): "graph-client-certificate",
            ("federated", True): "",
            ("secret", False): "",
            ("certificate", False): "",
            ("federated", False): "",
        }
        for (kind, rotation), name in expected.items():
            names = {**variables, "graphCredentialKind": kind, "enableSecretRotation": rotation}
            got = _evaluate(variables["rotatedSecretName"], names)
            assert got == name, f"{kind}, rotation {rotation}: officer on {got!r}, expected {name!r}"
        # The app reads the secret by the same name it may write.
        params = main["modules"]["functionApp"]["config"]["params"]
        assert _evaluate(params["graphClientSecretName"], variables) == "graph-client-secret"
        assert _evaluate(params["graphCertificateName"], variables) == "graph-client-certificate"

    def test_nothing_grants_the_app_write_access_to_the_whole_vault(
        self, parsed_bicep: dict[Path, dict[str, Any]]
    ) -> None:
        tree = _tree(parsed_bicep, MODULES / "rbac.bicep")
        roles = tree["variables"]["roles"]["value"]
        on_vault = [_role_of(a, roles) for a in _resources_of(tree, "Microsoft.Authorization/roleAssignments")
                    if _body(a)["scope"] == "vault" and _body(a)["properties"]["principalId"] == "appPrincipalId"]
        assert on_vault == [KEY_VAULT_SECRETS_USER]


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

    @pytest.mark.parametrize("env", ["dev", "prod"])
    def test_every_deploy_time_choice_is_in_the_parameter_file(
        self, env: str, parsed_bicep: dict[Path, dict[str, Any]]
    ) -> None:
        """A parameter left out would fall back to its default on every deployment, undoing the operator's choice."""
        declared = _tree(parsed_bicep, INFRA / "main.bicep")["parameters"]
        given = json.loads((INFRA / "parameters" / f"{env}.json").read_text())["parameters"]
        missing = set(declared) - set(given) - COMMAND_LINE_PARAMETERS - DERIVED_PARAMETERS
        assert not missing, f"{env}.json does not name {sorted(missing)}"

    def test_choices_that_would_undo_a_setup_have_no_default(self, parsed_bicep: dict[Path, dict[str, Any]]) -> None:
        declared = _tree(parsed_bicep, INFRA / "main.bicep")["parameters"]
        defaulted = {name for name in CHOICES_WITHOUT_DEFAULT if declared[name].get("default") is not None}
        assert not defaulted, f"these must be named by the parameter file, not defaulted: {sorted(defaulted)}"
