"""The local stack with CONNECTOR_GRAPH_NOTIFICATION_DELIVERY=eventGrid: the partner topic's URL the connector
subscribes with, and, once the host runs, the two steps docs/operations.md section 4 has an operator take on
Azure (activate the partner topic, subscribe the Event Grid trigger to it), taken in the Graph simulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote

if TYPE_CHECKING:
    from local.stack import LocalStack

LOCAL_EVENT_GRID_URL = ("EventGrid:?azuresubscriptionid=00000000-0000-0000-0000-000000000000&resourcegroup=local"
                        "&partnertopic=graph-local&location=local")


def uses_event_grid(settings: Mapping[str, str]) -> bool:
    return settings.get("CONNECTOR_GRAPH_NOTIFICATION_DELIVERY", "").strip().lower() == "eventgrid"


def event_grid_defaults(given: Mapping[str, str]) -> dict[str, str]:
    """The notification URL of a local partner topic, unless one is given."""
    if not uses_event_grid(given) or given.get("CONNECTOR_GRAPH_EVENTGRID_NOTIFICATION_URL"):
        return {}
    return {"CONNECTOR_GRAPH_EVENTGRID_NOTIFICATION_URL": LOCAL_EVENT_GRID_URL}


def subscribe_trigger_to_partner_topic(stack: LocalStack) -> None:
    """Activate the partner topic in the simulator with an event subscription to the host's Event Grid trigger:
    ``/runtime/webhooks/eventgrid?functionName=<the trigger>`` with the ``eventgrid_extension`` system key."""
    assert stack.simulator is not None and stack.host is not None
    functions = stack.admin("GET", "/admin/functions").json()
    [name] = [f["name"] for f in functions if f["trigger"] == "eventGridTrigger"]
    key = stack.admin("GET", "/admin/host/systemkeys/eventgrid_extension").json()["value"]
    url = stack.env["CONNECTOR_GRAPH_EVENTGRID_NOTIFICATION_URL"]
    topic = parse_qs(url.removeprefix("EventGrid:?"))["partnertopic"][0]
    endpoint = f"{stack.base_url}/runtime/webhooks/eventgrid?functionName={quote(name)}"
    stack.simulator.state.subscribe_partner_topic(topic, endpoint, {"x-functions-key": key})
