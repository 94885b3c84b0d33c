"""Every app setting the code reads is provisioned by the Bicep, and the Bicep provisions nothing the code
does not read.

Code side (``ast``, over ``function_app.py``, root-level ``triggers_*.py`` and blueprint files, ``shared/**``):
  (a) string literals named ``CALENDAR_MSGRAPH_*`` / ``CONNECTOR_*`` (``CONNECTOR_LOCAL_*`` are local-only);
  (b) ``%NAME%`` placeholders (timer schedules referenced from decorators);
  (c) ``connection="X"`` keyword arguments: the app must set ``X__fullyQualifiedNamespace`` (Service Bus);
  (d) the fixed names ``TableStorage__endpoint`` and ``AZURE_CLIENT_ID``.
Bicep side: the keys of the ``Microsoft.Web/sites/config`` ``appsettings`` resource (``modules/appsettings.bicep``),
resolved with pycep through its ``union(defaults, current, settings)`` into the variables its caller passes;
``current`` is the app's existing settings (``list()``) and adds no key of its own. Platform settings and identity
qualifiers (``X__credential``, ``X__clientId``) are not compared.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra.iac import INFRA, REPO

SETTING = re.compile(r"^(CALENDAR_MSGRAPH|CONNECTOR)_[A-Z0-9_]+$")
LOCAL_ONLY_PREFIX = "CONNECTOR_LOCAL_"
PLACEHOLDER = re.compile(r"^%([A-Za-z_][A-Za-z0-9_]*)%$")
FIXED_NAMES = {"TableStorage__endpoint", "AZURE_CLIENT_ID"}
PLATFORM_PREFIXES = ("FUNCTIONS_", "AzureWebJobs", "APPLICATIONINSIGHTS_", "WEBSITE_", "SCM_", "ENABLE_ORYX_BUILD")
IDENTITY_QUALIFIERS = ("__credential", "__clientId")
NAMESPACE_BINDINGS = ("service_bus", "event_hub")

# Settings the design defines (design.md section 10) that infra/ provisions before the code reads them, so a
# deployment already has the app's host name and the Key Vault reference. The only exception to "nothing the
# code does not read"; an entry must go once the code reads it (test_settings_ahead_of_the_code_are_not_read_yet).
AHEAD_OF_CODE: dict[str, str] = {}

# Defaults from ../shared/design.md sections 6 and 10 that the Bicep must deploy as literals.
DESIGN_DEFAULTS = {
    "CALENDAR_MSGRAPH_SYNCHRONIZE": "false",
    "CALENDAR_MSGRAPH_GRAPH_ENDPOINT": "https://graph.microsoft.com/v1.0",
    "CALENDAR_MSGRAPH_AUTH_ENDPOINT": "https://login.microsoftonline.com",
    "CALENDAR_MSGRAPH_SCOPES": "https://graph.microsoft.com/.default",
    "CALENDAR_MSGRAPH_LOOKUP_PRINCIPAL_NAME": "false",
    "CALENDAR_MSGRAPH_TIME_ZONE": "Europe/Berlin",
    "CALENDAR_MSGRAPH_DAYS_BACK": "365",
}


# ---------------------------------------------------------------- code side


# Top-level folders that hold no deployed code (tools, tests, docs, environments).
NOT_DEPLOYED = {"tests", "local", "scripts", "benchmarks", "infra", "docs", "node_modules"}


def code_files() -> list[Path]:
    """Every deployed Python file: the root modules and every package beside shared/ (entrypoints/, ...)."""
    files = sorted(REPO.glob("*.py"))
    for folder in sorted(p for p in REPO.iterdir() if p.is_dir()):
        if folder.name not in NOT_DEPLOYED and not folder.name.startswith("."):
            files += sorted(folder.rglob("*.py"))
    return [p for p in files if p.is_file()]


def _callee_name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def settings_read_by(source: str, filename: str = "<source>") -> dict[str, str]:
    """Setting names one module reads: {name: why}."""
    found: dict[str, str] = {}
    tree = ast.parse(source, filename=filename)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            where = f"{filename}:{node.lineno}"
            if (SETTING.match(text) and not text.startswith(LOCAL_ONLY_PREFIX)) or text in FIXED_NAMES:
                found.setdefault(text, where)
            elif match := PLACEHOLDER.match(text):
                found.setdefault(match.group(1), f"{where} (%{match.group(1)}%)")
        elif isinstance(node, ast.Call):
            binding = _callee_name(node.func)
            for keyword in node.keywords:
                if keyword.arg == "connection" and isinstance(keyword.value, ast.Constant):
                    connection = str(keyword.value.value)
                    if any(kind in binding for kind in NAMESPACE_BINDINGS):
                        name = f"{connection}__fullyQualifiedNamespace"
                    else:  # storage-style bindings connect by account name
                        name = f"{connection}__accountName"
                    found.setdefault(name, f"{filename}:{node.lineno} ({binding} connection={connection!r})")
    return found


def settings_read_by_code() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in code_files():
        source = path.read_text(encoding="utf-8")
        for name, where in settings_read_by(source, path.relative_to(REPO).as_posix()).items():
            found.setdefault(name, where)
    return found


# ---------------------------------------------------------------- Bicep side


Scope = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]  # (variables, parameters, module bindings)


def _is_list_of_app_settings(expr: Any) -> bool:
    """``list('${site.id}/config/appsettings', ...).properties``: the app's current settings."""
    if not (isinstance(expr, dict) and expr.get("operator", {}).get("type") == "property_accessor"):
        return False
    operands = expr["operator"]["operands"]
    function = operands["operand_1"].get("function", {}) if isinstance(operands["operand_1"], dict) else {}
    return (function.get("type") == "list_func" and operands["operand_2"] == "properties"
            and str(function["parameters"]["resource_identifier"]).endswith("/config/appsettings"))


def _resolve_keys(expr: Any, scope: Scope, seen: tuple[str, ...] = ()) -> set[str]:
    """Keys of an object expression as pycep renders it: literal, variable, union(...), a ? b : c, a module
    parameter bound by its caller, or the app's current settings (no keys of the template's own)."""
    variables, parameters, bindings = scope
    if _is_list_of_app_settings(expr):
        return set()
    if isinstance(expr, dict) and "function" in expr:
        function = expr["function"]
        assert function["type"] == "union", f"cannot read app settings built with {function['type']}()"
        keys: set[str] = set()
        for argument in function["parameters"].values():
            keys |= _resolve_keys(argument, scope, seen)
        return keys
    if isinstance(expr, dict) and "operator" in expr:
        operator = expr["operator"]
        assert operator["type"] == "conditional", f"cannot read app settings built with {operator['type']}"
        operands = operator["operands"]
        return _resolve_keys(operands["true_value"], scope, seen) | _resolve_keys(operands["false_value"], scope, seen)
    if isinstance(expr, dict):
        return set(expr)
    if isinstance(expr, str) and expr in variables:
        assert expr not in seen, f"variable cycle {seen + (expr,)}"
        return _resolve_keys(variables[expr]["value"], scope, seen + (expr,))
    if isinstance(expr, str) and expr in bindings:
        caller_expr, caller_scope = bindings[expr]
        return _resolve_keys(caller_expr, caller_scope, seen)
    if isinstance(expr, str) and expr in parameters:
        return set()  # an overrides parameter: it may only change values (test_parameter_files checks its keys)
    raise AssertionError(f"cannot resolve app settings expression {expr!r}")


def app_settings_resource(parsed_bicep: dict[Path, dict[str, Any]]) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """(file, resource, parsed file) of the one appsettings config resource in infra/."""
    hits = []
    for path, outcome in parsed_bicep.items():
        tree = outcome.get("json") or {}
        for resource in tree.get("resources", {}).values():
            if resource["type"] == "Microsoft.Web/sites/config" and resource["config"].get("name") == "appsettings":
                hits.append((path, resource, tree))
    assert len(hits) == 1, f"expected one appsettings resource in infra/, found {len(hits)}"
    return hits[0]


def app_settings_call(parsed_bicep: dict[Path, dict[str, Any]]) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """(file, module, parsed file) of the one module call that writes the app settings."""
    target, _, _ = app_settings_resource(parsed_bicep)
    hits = []
    for path, outcome in parsed_bicep.items():
        tree = outcome.get("json") or {}
        for module in tree.get("modules", {}).values():
            if (path.parent / module["detail"]["path"]).resolve() == target.resolve():
                hits.append((path, module, tree))
    assert len(hits) == 1, f"expected one call of {target.name}, found {len(hits)}"
    return hits[0]


def settings_set_by_bicep(parsed_bicep: dict[Path, dict[str, Any]]) -> set[str]:
    _, resource, tree = app_settings_resource(parsed_bicep)
    _, module, caller = app_settings_call(parsed_bicep)
    caller_scope: Scope = (caller.get("variables", {}), caller.get("parameters", {}), {})
    bindings = {name: (expr, caller_scope) for name, expr in module["config"]["params"].items()}
    scope: Scope = (tree.get("variables", {}), tree.get("parameters", {}), bindings)
    return _resolve_keys(resource["config"]["properties"], scope)


def compared(names: set[str]) -> set[str]:
    """Drop platform settings and identity qualifiers (each qualifier must qualify a provisioned connection)."""
    kept = {n for n in names if not n.startswith(PLATFORM_PREFIXES)}
    qualifiers = {n for n in kept if n.endswith(IDENTITY_QUALIFIERS)}
    for qualifier in qualifiers:
        prefix = qualifier.rsplit("__", 1)[0] + "__"
        assert any(n.startswith(prefix) for n in kept - qualifiers), f"{qualifier} qualifies no connection"
    return kept - qualifiers


@pytest.fixture(scope="module")
def bicep_settings(parsed_bicep: dict[Path, dict[str, Any]]) -> set[str]:
    return settings_set_by_bicep(parsed_bicep)


@pytest.fixture(scope="module")
def connector_defaults(parsed_bicep: dict[Path, dict[str, Any]]) -> dict[str, Any]:
    _, _, caller = app_settings_call(parsed_bicep)
    return dict(caller["variables"]["connectorDefaults"]["value"])


class TestSettingsCrossCheck:
    def test_every_setting_the_code_reads_is_provisioned_and_nothing_else(self, bicep_settings: set[str]) -> None:
        read = settings_read_by_code()
        provisioned = compared(bicep_settings)
        not_provisioned = sorted(set(read) - provisioned)
        not_read = sorted(provisioned - set(read) - set(AHEAD_OF_CODE))
        lines = []
        if not_provisioned:
            lines.append("read by the code but not set by infra/ (add them to connectorDefaults or deploymentSettings "
                         "in infra/modules/functionapp.bicep):")
            lines += [f"  {name}  ← {read[name]}" for name in not_provisioned]
        if not_read:
            lines.append("set by infra/ but read nowhere in the code:")
            lines += [f"  {name}" for name in not_read]
        assert not lines, "\n".join(lines)

    def test_settings_ahead_of_the_code_are_not_read_yet(self, bicep_settings: set[str]) -> None:
        read = settings_read_by_code()
        now_read = sorted(set(AHEAD_OF_CODE) & set(read))
        assert not now_read, f"the code reads these now: remove them from AHEAD_OF_CODE in {__file__}: {now_read}"
        assert set(AHEAD_OF_CODE) <= bicep_settings, "AHEAD_OF_CODE names a setting infra/ does not set"

    def test_the_code_side_scans_the_trigger_blueprints(self) -> None:
        scanned = set(code_files())
        blueprints = [p for p in REPO.rglob("*.py")
                      if p.relative_to(REPO).parts[0] not in NOT_DEPLOYED | {".venv", ".venv-iac"}
                      and "Blueprint(" in p.read_text(encoding="utf-8")]
        assert blueprints, "no trigger blueprint found"
        missing = sorted(str(p.relative_to(REPO)) for p in blueprints if p not in scanned)
        assert not missing, f"blueprints the settings scan skips: {missing}"

    def test_the_code_side_found_the_settings_the_connector_is_known_to_read(self) -> None:
        read = settings_read_by_code()
        for name in ("CALENDAR_MSGRAPH_SYNCHRONIZE", "CALENDAR_MSGRAPH_CLIENT_SECRET", "TableStorage__endpoint"):
            assert name in read, f"the scan missed {name}: files scanned {[str(p) for p in code_files()]}"

    def test_defaults_are_those_of_the_design(self, connector_defaults: dict[str, Any]) -> None:
        wrong = {
            name: connector_defaults.get(name)
            for name, value in DESIGN_DEFAULTS.items()
            if connector_defaults.get(name) != value
        }
        assert not wrong, f"defaults differ from design.md section 6: {wrong}"

    def test_secrets_are_key_vault_references(self, parsed_bicep: dict[Path, dict[str, Any]]) -> None:
        path, _, _ = app_settings_call(parsed_bicep)
        text = path.read_text()
        assert re.search(r"CALENDAR_MSGRAPH_CLIENT_SECRET: graphClientSecretReference\b", text)
        assert re.search(r"CONNECTOR_OUTBOUND_WEBHOOK_SECRET: .*outboundWebhookSecretReference\b", text)
        for variable in ("graphClientSecretReference", "outboundWebhookSecretReference"):
            assert re.search(rf"var {variable} = '@Microsoft\.KeyVault\(SecretUri=\$\{{keyVaultUri\}}secrets/", text)

    def test_connections_are_identity_based(self, bicep_settings: set[str]) -> None:
        for name in ("AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential",
                     "AzureWebJobsStorage__clientId", "ServiceBusConnection__fullyQualifiedNamespace",
                     "ServiceBusConnection__credential", "ServiceBusConnection__clientId",
                     "TableStorage__endpoint", "AZURE_CLIENT_ID"):
            assert name in bicep_settings, f"{name} is not provisioned"
        for name in ("AzureWebJobsStorage", "ServiceBusConnection", "TableStorage"):
            assert name not in bicep_settings, f"{name} would be a connection string"

    def test_no_key_or_connection_string_anywhere_in_infra(self) -> None:
        forbidden = re.compile(r"listKeys\(|AccountKey=|SharedAccessKey|listConnectionStrings|primaryKey", re.I)
        hits = [
            f"{p.relative_to(REPO)}:{n}: {line.strip()}"
            for p in sorted(INFRA.rglob("*"))
            if p.is_file()
            for n, line in enumerate(p.read_text().splitlines(), start=1)
            if forbidden.search(line)
        ]
        assert not hits, "keys in infra/:\n" + "\n".join(hits)

    @pytest.mark.parametrize("env", ["dev", "prod"])
    def test_parameter_file_overrides_name_known_settings(self, env: str, bicep_settings: set[str]) -> None:
        parameters = json.loads((INFRA / "parameters" / f"{env}.json").read_text())["parameters"]
        overrides = parameters.get("appSettingOverrides", {}).get("value", {})
        unknown = sorted(set(overrides) - bicep_settings)
        assert not unknown, f"{env}.json overrides settings the Bicep does not define: {unknown}"
        assert all(isinstance(v, str) for v in overrides.values()), "app setting values are strings"


class TestADeploymentChangesOnlyTheSettingsItNames:
    """App settings are one list that a config resource replaces whole: the template merges the app's current
    settings in, so an operator's change or a setting of a later version survives a deployment."""

    def test_defaults_then_the_current_settings_then_what_the_deployment_names(
        self, parsed_bicep: dict[Path, dict[str, Any]]
    ) -> None:
        _, resource, tree = app_settings_resource(parsed_bicep)
        union = resource["config"]["properties"]["function"]
        assert union["type"] == "union"
        assert list(union["parameters"].values()) == ["defaults", "current", "settings"], (
            "a later union() argument wins: defaults must lose to the current settings, which lose to the "
            "settings the deployment names")
        assert {"defaults", "current", "settings"} <= set(tree["parameters"])

    def test_the_current_settings_are_read_from_the_app_during_the_deployment(
        self, parsed_bicep: dict[Path, dict[str, Any]]
    ) -> None:
        _, module, _ = app_settings_call(parsed_bicep)
        current = module["config"]["params"]["current"]
        assert _is_list_of_app_settings(current), f"current must be list(<site>/config/appsettings): {current}"

    def test_defaults_hold_no_deploy_time_choice(self, parsed_bicep: dict[Path, dict[str, Any]]) -> None:
        """A default never overwrites, so a setting a parameter decides must not be one."""
        _, _, caller = app_settings_call(parsed_bicep)
        defaults = caller["variables"]["connectorDefaults"]["value"]
        parameters = set(caller["parameters"])
        named = {k: v for k, v in defaults.items() if v in parameters}
        assert not named, f"defaults set from parameters (move them to deploymentSettings): {named}"
        settings = caller["variables"]["deploymentSettings"]["value"]
        assert not set(defaults) & set(settings), "a setting is both a default and named by the deployment"

    @pytest.mark.parametrize("setting,parameter", [
        ("CALENDAR_MSGRAPH_CREDENTIAL", "graphCredentialKind"),
        ("CONNECTOR_OUTBOUND_WEBHOOK_URL", "outboundWebhookUrl"),
        ("CALENDAR_MSGRAPH_TENANT_GUID", "graphTenantId"),
        ("CALENDAR_MSGRAPH_CLIENT_ID", "graphClientId"),
        ("CONNECTOR_GRAPH_NOTIFICATION_DELIVERY", "graphNotificationDelivery"),
    ])
    def test_each_choice_is_set_from_its_parameter_on_every_deployment(
        self, setting: str, parameter: str, parsed_bicep: dict[Path, dict[str, Any]]
    ) -> None:
        _, _, caller = app_settings_call(parsed_bicep)
        assert caller["variables"]["deploymentSettings"]["value"][setting] == parameter
        main = parsed_bicep[INFRA / "main.bicep"]["json"]
        assert main["modules"]["functionApp"]["config"]["params"][parameter] == parameter


class TestTheScanner:
    """The code-side scan on small sources, so a broken scanner cannot pass the cross-check vacuously."""

    def test_it_finds_literals_placeholders_connections_and_fixed_names(self) -> None:
        source = '''
import azure.functions as func
app = func.FunctionApp()
STAMP = "%Y-%m-%dT%H:%M"
@app.timer_trigger(arg_name="t", schedule="%CONNECTOR_RENEW_SCHEDULE%")
def renew(t): ...
@app.service_bus_queue_trigger(arg_name="m", queue_name="q", connection="ServiceBusConnection")
def sync(m): ...
def read(env):
    return env.get("CALENDAR_MSGRAPH_TIME_ZONE"), env["TableStorage__endpoint"], env.get("CONNECTOR_LOCAL_QUEUE_PATH")
'''
        assert set(settings_read_by(source)) == {
            "CONNECTOR_RENEW_SCHEDULE",
            "ServiceBusConnection__fullyQualifiedNamespace",
            "CALENDAR_MSGRAPH_TIME_ZONE",
            "TableStorage__endpoint",
        }

    def test_identity_qualifiers_need_a_connection(self) -> None:
        assert compared({"X__fullyQualifiedNamespace", "X__clientId", "FUNCTIONS_WORKER_RUNTIME"}) == {
            "X__fullyQualifiedNamespace"
        }
        with pytest.raises(AssertionError):
            compared({"Y__clientId"})
