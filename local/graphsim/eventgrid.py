"""Graph's delivery through Azure Event Grid, with a local stand-in for the partner topic.

A subscription whose notificationUrl (and lifecycleNotificationUrl) is
``EventGrid:?azuresubscriptionid=...&resourcegroup=...&partnertopic=...&location=...`` gets no validation
request; Graph creates the partner topic on the first such subscription, and publishes one CloudEvent per
notification to it. Nothing flows until the topic is activated with an event subscription: here
``subscribe_partner_topic(name, endpoint, headers)``, which the local stack points at the function host's
Event Grid webhook (``/runtime/webhooks/eventgrid?functionName=...`` with ``aeg-event-type: Notification``).
Event shapes: learn.microsoft.com/azure/event-grid/outlook-events (Outlook's PascalCase ``ChangeType`` and
``resourceData.Id`` included) and ``Microsoft.Graph.Subscription*`` for lifecycle notifications.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from .errors import GraphError

PREFIX = "EventGrid:?"
PARAMETERS = ("azuresubscriptionid", "resourcegroup", "partnertopic", "location")
LIFECYCLE_TYPES = {"reauthorizationRequired": "Microsoft.Graph.SubscriptionReauthorizationRequired",
                   "subscriptionRemoved": "Microsoft.Graph.SubscriptionRemoved",
                   "missed": "Microsoft.Graph.SubscriptionMissed"}


def is_event_grid(url: object) -> bool:
    return isinstance(url, str) and url.startswith(PREFIX)


def parse(url: str, name: str) -> dict[str, str]:
    """The four coordinates of the partner topic; 400 as Graph answers a malformed one."""
    query = {k: v[0] for k, v in parse_qs(url[len(PREFIX):]).items() if v and v[0].strip()}
    missing = [p for p in PARAMETERS if p not in query]
    if missing:
        raise GraphError(400, "InvalidRequest", f"The {name} is not a valid Event Grid URL (missing "
                         f"{', '.join(missing)}).")
    return {p: query[p] for p in PARAMETERS}


@dataclass
class PartnerTopic:
    name: str
    azure_subscription_id: str
    resource_group: str
    location: str
    endpoint: str | None = None  # the event subscription's destination; None: not activated, events dropped
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "azureSubscriptionId": self.azure_subscription_id,
                "resourceGroup": self.resource_group, "location": self.location,
                "activationState": "Activated" if self.endpoint else "NeverActivated",
                "endpoint": self.endpoint, "created": self.created}


class PartnerTopics:
    """Partner topics Graph created, and where each delivers; kept across ``reset`` (Azure's side)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._topics: dict[str, PartnerTopic] = {}

    def ensure(self, url: str) -> PartnerTopic:
        """Graph creating (or reusing) the topic a subscription names."""
        where = parse(url, "notificationUrl")
        with self._lock:
            topic = self._topics.get(where["partnertopic"].lower())
            if topic is None:
                topic = PartnerTopic(where["partnertopic"], where["azuresubscriptionid"], where["resourcegroup"],
                                     where["location"])
                self._topics[topic.name.lower()] = topic
            return topic

    def subscribe(self, name: str, endpoint: str | None, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """Activate the topic with an event subscription delivering to ``endpoint`` (None: deactivate)."""
        with self._lock:
            topic = self._topics.get(name.lower())
            if topic is None:
                topic = PartnerTopic(name, "local", "local", "local")
                self._topics[name.lower()] = topic
            topic.endpoint, topic.headers = endpoint, dict(headers or {})
            return topic.public()

    def destination(self, url: str) -> tuple[str, dict[str, str]] | None:
        with self._lock:
            topic = self._topics.get(parse(url, "notificationUrl")["partnertopic"].lower())
            if topic is None or topic.endpoint is None:
                return None
            return topic.endpoint, {"aeg-event-type": "Notification",
                                    "content-type": "application/cloudevents-batch+json; charset=utf-8",
                                    **topic.headers}

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [t.public() for t in self._topics.values()]


def _envelope(event_type: str, subject: str, tenant_id: str, application_id: str, data: dict[str, Any]
              ) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": event_type,
            "source": f"/tenants/{tenant_id}/applications/{application_id}", "subject": subject,
            "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "datacontenttype": "application/json", "specversion": "1.0", "data": data}


def change_event(sub: Any, kind: str, mailbox_id: str, event_id: str, etag: str, expiration: str) -> dict[str, Any]:
    """Outlook's CloudEvent for a change (the documented example: PascalCase ChangeType and resourceData.Id)."""
    resource = f"https://outlook.office365.com/api/beta/Users('{mailbox_id}@{sub.tenant_id}')/Events('{event_id}')"
    data = {"@odata.type": "#Microsoft.OutlookServices.Notification", "Id": None,
            "SubscriptionExpirationDateTime": expiration, "ChangeType": kind, "subscriptionId": sub.id,
            "resource": resource, "clientState": sub.client_state, "tenantId": sub.tenant_id,
            "resourceData": {"Id": event_id, "@odata.etag": etag, "@odata.id": resource,
                             "@odata.type": "#Microsoft.OutlookServices.Event"}}
    return _envelope(f"Microsoft.Graph.Event{kind.title()}", f"Events/{event_id}", sub.tenant_id,
                     sub.application_id, data)


def lifecycle_event(sub: Any, item: dict[str, Any]) -> dict[str, Any]:
    return _envelope(LIFECYCLE_TYPES[item["lifecycleEvent"]], f"Subscriptions/{sub.id}", sub.tenant_id,
                     sub.application_id, dict(item))
