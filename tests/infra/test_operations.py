"""Operating without babysitting, read from the parsed Bicep: an alert per condition whose text says what to do, each
reading a metric of the telemetry contract (docs/telemetry-names.md); a workbook that shows every metric of it; and
Graph notifications through Event Grid only when graphNotificationDelivery chooses it."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.infra.iac import INFRA, REPO

MODULES = INFRA / "modules"
TELEMETRY_NAMES = REPO / "docs" / "telemetry-names.md"
OPERATIONS_DOC = REPO / "docs" / "operations.md"
WORKBOOK_JSON = INFRA / "workbooks" / "connector.workbook.json"
METRIC_NAME = re.compile(r'"(connector\.[a-z_.]+)"')

# The issue's conditions, each with the operator endpoint its alert must send the operator to.
ENDPOINT_OF_ALERT = {
    "deadletters": "/api/manage/deadletters",
    "subscriptions": "/api/manage/rooms",
    "credential": "/api/manage/credentials",
    "connections": "/api/manage/connections",
    "throttling": "/api/manage/doctor",
    "breakers": "/api/manage/breakers",
    "queueage": "/api/manage/doctor",
}
# Conditions that are "above zero" by definition; every other threshold is a parameter.
ZERO_THRESHOLDS = {"deadletters", "subscriptions", "connections", "breakers"}
# main.bicep parameter -> alerts.bicep parameter it sets.
THRESHOLD_PARAMETERS = {
    "alertCredentialDaysLeft": "credentialDaysLeftThreshold",
    "alertThrottledPercent": "throttledPercentThreshold",
    "alertQueueOldestAgeSeconds": "queueOldestAgeThresholdSeconds",
}


def contract_metric_names() -> set[str]:
    """The metric names of docs/telemetry-names.md (first column of its table)."""
    names = set(re.findall(r"^\| (connector\.[a-z_.]+) \|", TELEMETRY_NAMES.read_text(), flags=re.M))
    assert len(names) >= 14, f"the table of {TELEMETRY_NAMES.name} did not parse: {sorted(names)}"
    return names


def _tree(parsed_bicep: dict[Path, dict[str, Any]], path: Path) -> dict[str, Any]:
    outcome = parsed_bicep[path]
    assert "json" in outcome, outcome.get("error")
    return outcome["json"]


def _body(resource: dict[str, Any]) -> dict[str, Any]:
    config = resource["config"]
    return config["config"] if "loop_type" in config or "condition" in config else config


def _resources(tree: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [r for r in tree.get("resources", {}).values() if r["type"] == resource_type]


def _text(expr: Any, variables: dict[str, Any]) -> str:
    """A string variable's text: a literal, another variable, or format()'s format string."""
    if isinstance(expr, str):
        return _text(variables[expr]["value"], variables) if expr in variables else expr
    function = expr["function"]
    assert function["type"] == "format", f"cannot read a query built with {function['type']}()"
    return str(function["parameters"]["format_string"])


def _names(expr: Any) -> list[str]:
    """The names of a property access as pycep renders it: ``a.b.c`` -> ["a", "b", "c"]."""
    if isinstance(expr, str):
        return [expr]
    operands = expr["operator"]["operands"]
    return _names(operands["operand_1"]) + _names(operands["operand_2"])


def _duration(iso: str) -> timedelta:
    match = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?", iso)
    assert match, f"unexpected duration {iso}"
    return timedelta(hours=int(match.group(1) or 0), minutes=int(match.group(2) or 0))


@pytest.fixture(scope="module")
def alerts_tree(parsed_bicep: dict[Path, dict[str, Any]]) -> dict[str, Any]:
    return _tree(parsed_bicep, MODULES / "alerts.bicep")


@pytest.fixture(scope="module")
def log_alerts(alerts_tree: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The alert definitions the log search rules are built from, by key."""
    (rules,) = _resources(alerts_tree, "Microsoft.Insights/scheduledQueryRules")
    assert rules["config"]["loop_type"]["detail"]["array_name"] == "logAlerts"
    return {a["key"]: a for a in alerts_tree["variables"]["logAlerts"]["value"]}


@pytest.fixture(scope="module")
def workbook() -> dict[str, Any]:
    return dict(json.loads(WORKBOOK_JSON.read_text()))


@pytest.fixture(scope="module")
def main_tree(parsed_bicep: dict[Path, dict[str, Any]]) -> dict[str, Any]:
    return _tree(parsed_bicep, INFRA / "main.bicep")


class TestAlerts:
    def test_one_alert_per_condition_of_the_issue(self, log_alerts: dict[str, dict[str, Any]]) -> None:
        assert set(log_alerts) == set(ENDPOINT_OF_ALERT)

    @pytest.mark.parametrize("key", sorted(ENDPOINT_OF_ALERT))
    def test_each_description_says_where_to_look_and_what_to_do(
        self, key: str, log_alerts: dict[str, dict[str, Any]]
    ) -> None:
        description = log_alerts[key]["description"]
        assert ENDPOINT_OF_ALERT[key] in description, f"{key}: the description must name {ENDPOINT_OF_ALERT[key]}"
        assert "What to do:" in description, f"{key}: the description must say what to do"

    @pytest.mark.parametrize("key", sorted(ENDPOINT_OF_ALERT))
    def test_each_query_reads_a_metric_of_the_telemetry_contract(
        self, key: str, log_alerts: dict[str, dict[str, Any]], alerts_tree: dict[str, Any]
    ) -> None:
        alert = log_alerts[key]
        query = _text(alert["query"], alerts_tree["variables"])
        read = set(METRIC_NAME.findall(query))
        assert read, f"{key}: the query names no metric:\n{query}"
        unknown = read - contract_metric_names()
        assert not unknown, f"{key}: not in docs/telemetry-names.md: {unknown}"
        assert query.lstrip().startswith("customMetrics"), f"{key}: the app's metrics are in customMetrics"
        projected = query.rsplit("| project", 1)[1]
        for column in (alert["measure"], *alert["dimensions"], "timestamp"):
            assert re.search(rf"\b{column}\b", projected), f"{key}: the query does not project {column}"

    @pytest.mark.parametrize("key", sorted(ENDPOINT_OF_ALERT))
    def test_thresholds_are_parameters_except_above_zero(
        self, key: str, log_alerts: dict[str, dict[str, Any]], alerts_tree: dict[str, Any]
    ) -> None:
        threshold = log_alerts[key]["threshold"]
        if key in ZERO_THRESHOLDS:
            assert (threshold, log_alerts[key]["operator"]) == (0, "GreaterThan")
        else:
            declared = alerts_tree["parameters"]
            assert threshold in declared, f"{key}: threshold {threshold!r} is not a parameter"
            assert declared[threshold].get("default") is not None, f"{key}: {threshold} has no default"

    def test_main_passes_each_threshold_from_a_parameter_with_the_issues_default(
        self, main_tree: dict[str, Any]
    ) -> None:
        params = main_tree["modules"]["alerts"]["config"]["params"]
        for main_parameter, module_parameter in THRESHOLD_PARAMETERS.items():
            assert params[module_parameter] == main_parameter
        assert main_tree["parameters"]["alertCredentialDaysLeft"]["default"] == 14

    @pytest.mark.parametrize("key", sorted(ENDPOINT_OF_ALERT))
    def test_severity_frequency_and_window_are_sensible(self, key: str, log_alerts: dict[str, dict[str, Any]]) -> None:
        alert = log_alerts[key]
        assert alert["severity"] in (0, 1, 2, 3, 4)
        frequency, window = _duration(alert["evaluationFrequency"]), _duration(alert["windowSize"])
        assert timedelta(minutes=5) <= frequency <= timedelta(hours=1), f"{key}: evaluated every {frequency}"
        assert frequency <= window <= timedelta(hours=6), f"{key}: window {window} for frequency {frequency}"

    def test_every_rule_reads_app_insights_resolves_itself_and_follows_enable_alerts(
        self, alerts_tree: dict[str, Any], main_tree: dict[str, Any]
    ) -> None:
        (rules,) = _resources(alerts_tree, "Microsoft.Insights/scheduledQueryRules")
        properties = _body(rules)["properties"]
        assert properties["scopes"] == ["appInsightsId"]
        assert properties["enabled"] == "enableAlerts"
        assert properties["autoMitigate"] is True
        assert properties["actions"]["actionGroups"] == "actionGroupIds"
        params = main_tree["modules"]["alerts"]["config"]["params"]
        assert params["enableAlerts"] == "enableAlerts"
        assert main_tree["parameters"]["enableAlerts"]["default"] is True
        assert _names(params["appInsightsId"]) == ["monitoring", "outputs", "appInsightsId"]
        assert _names(params["serviceBusNamespaceId"]) == ["serviceBus", "outputs", "id"]

    def test_service_bus_dead_letters_are_the_platform_backstop(self, alerts_tree: dict[str, Any]) -> None:
        (metric_alert,) = _resources(alerts_tree, "Microsoft.Insights/metricAlerts")
        properties = _body(metric_alert)["properties"]
        (criterion,) = properties["criteria"]["allOf"]
        assert (criterion["metricNamespace"], criterion["metricName"]) == (
            "Microsoft.ServiceBus/namespaces", "DeadletteredMessages")
        assert (criterion["operator"], criterion["threshold"]) == ("GreaterThan", 0)
        assert [d["name"] for d in criterion["dimensions"]] == ["EntityName"]
        assert properties["scopes"] == ["serviceBusNamespaceId"]
        assert properties["enabled"] == "enableAlerts"
        assert "/api/manage/doctor" in properties["description"] and "What to do:" in properties["description"]

    def test_email_receivers_are_optional(self, alerts_tree: dict[str, Any]) -> None:
        (group,) = _resources(alerts_tree, "Microsoft.Insights/actionGroups")
        condition = group["config"]["condition"]["operator"]
        assert condition["type"] == "not"
        assert condition["operands"]["bool_value"]["function"]["parameters"]["item_to_test"] == "emailAddresses"
        assert alerts_tree["parameters"]["emailAddresses"]["default"] == []
        receivers = _body(group)["properties"]["emailReceivers"]
        assert receivers["loop_type"]["detail"]["array_name"] == "emailAddresses"

    def test_the_operations_guide_lists_every_alert(self, log_alerts: dict[str, dict[str, Any]]) -> None:
        guide = OPERATIONS_DOC.read_text()
        missing = [a["displayName"] for a in log_alerts.values() if a["displayName"] not in guide]
        assert not missing, f"docs/operations.md does not describe: {missing}"


class TestWorkbook:
    def test_the_module_loads_the_workbook_file_and_points_it_at_app_insights(
        self, parsed_bicep: dict[Path, dict[str, Any]], workbook: dict[str, Any], main_tree: dict[str, Any]
    ) -> None:
        tree = _tree(parsed_bicep, MODULES / "workbook.bicep")
        (resource,) = _resources(tree, "Microsoft.Insights/workbooks")
        properties = resource["config"]["properties"]
        replace = properties["serializedData"]["function"]
        assert replace["type"] == "replace"
        loaded = replace["parameters"]["original_string"]["function"]
        assert loaded["type"] == "load_text_content"
        assert (MODULES / loaded["parameters"]["file_path"]).resolve() == WORKBOOK_JSON.resolve()
        assert workbook["fallbackResourceIds"] == [replace["parameters"]["old_string"]]
        assert replace["parameters"]["new_string"] == properties["sourceId"] == "appInsightsId"
        assert "workbook" in main_tree["modules"]

    def test_the_workbook_shows_every_metric_of_the_contract(self, workbook: dict[str, Any]) -> None:
        queries = [i["content"]["query"] for i in workbook["items"] if i["type"] == 3]
        shown = {name for q in queries for name in METRIC_NAME.findall(q)}
        assert shown >= contract_metric_names(), f"not in the workbook: {sorted(contract_metric_names() - shown)}"
        assert shown <= contract_metric_names(), f"not in the contract: {sorted(shown - contract_metric_names())}"

    def test_every_query_reads_app_insights_over_the_chosen_time_range(self, workbook: dict[str, Any]) -> None:
        assert workbook["version"] == "Notebook/1.0"
        parameters = [p["name"] for i in workbook["items"] if i["type"] == 9 for p in i["content"]["parameters"]]
        assert "TimeRange" in parameters
        for item in (i for i in workbook["items"] if i["type"] == 3):
            content = item["content"]
            assert content["version"] == "KqlItem/1.0" and content["queryType"] == 0
            assert content["resourceType"] == "microsoft.insights/components"
            assert "{TimeRange}" in content["query"], f"{item['name']} ignores the time range"
        names = [i["name"] for i in workbook["items"]]
        assert len(names) == len(set(names)), "item names must be unique"


class TestEventGridDelivery:
    def test_webhook_is_the_default(self, main_tree: dict[str, Any]) -> None:
        parameter = main_tree["parameters"]["graphNotificationDelivery"]
        assert parameter["default"] == "webhook"
        allowed = [d["argument"] for d in parameter["decorators"] if d["type"] == "allowed"]
        assert allowed == [["webhook", "eventGrid"]]

    def test_event_grid_resources_exist_only_under_the_event_grid_choice(
        self, parsed_bicep: dict[Path, dict[str, Any]], main_tree: dict[str, Any]
    ) -> None:
        declaring = {
            path.relative_to(INFRA).as_posix()
            for path, outcome in parsed_bicep.items()
            for resource in (outcome.get("json") or {}).get("resources", {}).values()
            if resource["type"].startswith("Microsoft.EventGrid/")
        }
        assert declaring == {"modules/eventgrid.bicep"}
        calls = [m for m in main_tree["modules"].values() if m["detail"]["path"] == "modules/eventgrid.bicep"]
        (call,) = calls
        assert call["config"]["condition"] == {"operator": {"type": "equals", "operands": {
            "operand_1": "graphNotificationDelivery", "operand_2": "eventGrid"}}}
        nested = [m for p, o in parsed_bicep.items() if p != INFRA / "main.bicep"
                  for m in (o.get("json") or {}).get("modules", {}).values()
                  if m["detail"]["path"].endswith("eventgrid.bicep")]
        assert not nested, "only main.bicep may deploy the Event Grid module (under its condition)"

    def test_the_microsoft_graph_api_partner_is_authorised(self, parsed_bicep: dict[Path, dict[str, Any]]) -> None:
        tree = _tree(parsed_bicep, MODULES / "eventgrid.bicep")
        (configuration,) = _resources(tree, "Microsoft.EventGrid/partnerConfigurations")
        config = configuration["config"]
        assert (config["name"], config["location"]) == ("default", "global")
        authorization = config["properties"]["partnerAuthorization"]
        (partner,) = authorization["authorizedPartnersList"]
        assert partner["partnerName"] == "MicrosoftGraphAPI"
        expiry = partner["authorizationExpirationTimeInUtc"]["function"]
        assert expiry["type"] == "date_time_add" and expiry["parameters"]["base"] == "now"
        assert tree["parameters"]["now"]["default"]["function"]["type"] == "utc_now"
        assert authorization["defaultMaximumExpirationTimeInDays"] == "authorizationDays"

    def test_the_app_setting_and_the_notification_url_follow_the_choice(self, main_tree: dict[str, Any]) -> None:
        assert main_tree["modules"]["functionApp"]["config"]["params"]["graphNotificationDelivery"] == (
            "graphNotificationDelivery")
        url = main_tree["variables"]["graphEventGridNotificationUrl"]["value"]
        assert re.fullmatch(r"EventGrid:\?azuresubscriptionid=\$\{subscription\(\)\.subscriptionId\}"
                            r"&resourcegroup=\$\{resourceGroup\(\)\.name\}&partnertopic=\$\{graphPartnerTopicName\}"
                            r"&location=\$\{location\}", url), url
        assert "graphEventGridNotificationUrl" in main_tree["outputs"]

    def test_the_app_gets_the_notification_url_only_under_the_event_grid_choice(
        self, parsed_bicep: dict[Path, dict[str, Any]], main_tree: dict[str, Any]
    ) -> None:
        passed = main_tree["modules"]["functionApp"]["config"]["params"]["graphEventGridNotificationUrl"]
        assert passed["operator"]["type"] == "conditional", passed
        operands = passed["operator"]["operands"]
        assert operands["condition"] == {"operator": {"type": "equals", "operands": {
            "operand_1": "graphNotificationDelivery", "operand_2": "eventGrid"}}}
        assert (operands["true_value"], operands["false_value"]) == ("graphEventGridNotificationUrl", "")
        settings = _tree(parsed_bicep, MODULES / "functionapp.bicep")["variables"]["deploymentSettings"]["value"]
        assert settings["CONNECTOR_GRAPH_EVENTGRID_NOTIFICATION_URL"] == "graphEventGridNotificationUrl"

    def test_the_operations_guide_gives_the_steps_bicep_cannot_take(self) -> None:
        guide = OPERATIONS_DOC.read_text()
        for step in ("az eventgrid partner topic activate", "az eventgrid partner topic event-subscription create",
                     "EventGrid:?azuresubscriptionid=",
                     "learn.microsoft.com/azure/event-grid/subscribe-to-graph-api-events"):
            assert step in guide, f"docs/operations.md lacks {step!r}"
