"""The queue names and the delivery budget live once, in ``shared/app/messaging.py``: the Bicep deploys the
same queues with the same maxDeliveryCount, and every Service Bus trigger binds one of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.app import messaging
from tests.infra.iac import INFRA
from tests.support.functions import app_functions

SERVICE_BUS = INFRA / "modules" / "servicebus.bicep"


def _queues_resource(tree: dict[str, Any]) -> dict[str, Any]:
    [queues] = [r for r in tree["resources"].values() if r["type"] == "Microsoft.ServiceBus/namespaces/queues"]
    config = queues["config"]
    return config["config"] if "loop_type" in config else config  # the body under the for-loop


def test_the_bicep_deploys_exactly_the_queues_the_code_names(parsed_bicep: dict[Path, dict[str, Any]]) -> None:
    tree = parsed_bicep[SERVICE_BUS]["json"]
    assert tree["parameters"]["queueNames"]["default"] == list(messaging.QUEUES)


def test_the_bicep_max_delivery_count_is_the_code_s_delivery_budget(parsed_bicep: dict[Path, dict[str, Any]]) -> None:
    tree = parsed_bicep[SERVICE_BUS]["json"]
    assert _queues_resource(tree)["properties"]["maxDeliveryCount"] == messaging.MAX_DELIVERIES


def test_every_service_bus_trigger_binds_one_of_those_queues_and_each_queue_has_a_consumer() -> None:
    bound = set()
    for function in app_functions():
        for raw in function.get_raw_bindings():
            binding = json.loads(raw)
            if binding["type"] == "serviceBusTrigger":
                assert binding["queueName"] in messaging.QUEUES, function.get_function_name()
                assert binding["isSessionsEnabled"] is True
                bound.add(binding["queueName"])
    assert bound == set(messaging.QUEUES)
