"""Graph notifications delivered through Azure Event Grid: a CloudEvent back to the notification item. Pure.

Graph publishes one CloudEvent per notification to the partner topic; its ``data`` is the item the webhook
would have received in ``value`` (clientState, subscriptionId, resource, resourceData, changeType or
lifecycleEvent), and its ``type`` names the change: ``Microsoft.Graph.EventCreated``/``Updated``/``Deleted``,
or for lifecycle notifications ``Microsoft.Graph.SubscriptionReauthorizationRequired`` (and the like).
Outlook's items may spell keys in PascalCase (``ChangeType``, ``resourceData.Id``); they are read either way.
(learn.microsoft.com/azure/event-grid/outlook-events, .../subscribe-to-graph-api-events)
"""

from __future__ import annotations

from typing import Any

__all__ = ["notification_item"]

_CHANGE_PREFIX = "Microsoft.Graph.Event"  # + Created | Updated | Deleted
_LIFECYCLE_PREFIX = "Microsoft.Graph.Subscription"  # + ReauthorizationRequired | Removed | Missed
_LIFECYCLE_BY_SUFFIX = {"reauthorizationrequired": "reauthorizationRequired", "removed": "subscriptionRemoved",
                        "subscriptionremoved": "subscriptionRemoved", "missed": "missed"}


def notification_item(event_type: str | None, data: object) -> dict[str, Any] | None:
    """The Graph notification item a CloudEvent carries, keys in Graph's camelCase; None when it carries none.

    The item's own ``changeType``/``lifecycleEvent`` win; the event type fills them in when the item lacks
    them. The clientState is not checked here (the intake does, as for the webhook).
    """
    if not isinstance(data, dict):
        return None
    item = _camel(data)
    if isinstance(item.get("resourceData"), dict):
        item["resourceData"] = _camel(item["resourceData"])
    kind = event_type or ""
    if kind.startswith(_LIFECYCLE_PREFIX):
        event = _LIFECYCLE_BY_SUFFIX.get(kind[len(_LIFECYCLE_PREFIX):].lower())
        if item.get("lifecycleEvent") is None and event is not None:
            item["lifecycleEvent"] = event
    elif kind.startswith(_CHANGE_PREFIX) and item.get("changeType") is None and item.get("lifecycleEvent") is None:
        item["changeType"] = kind[len(_CHANGE_PREFIX):].lower()
    return item


def _camel(mapping: dict[Any, Any]) -> dict[str, Any]:
    """``ChangeType`` → ``changeType``, ``Id`` → ``id``; annotations (``@odata.etag``) and camelCase keys stay.
    Where both spellings are present, Graph's camelCase one wins."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = str(key)
        camel = name[:1].lower() + name[1:] if name[:1].isupper() else name
        if camel not in out or camel == name:
            out[camel] = value
    return out
