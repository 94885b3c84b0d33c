"""SubscriptionGateway over msgraph-sdk: create, renew, reauthorize and delete change-notification subscriptions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx

from shared.adapters.graph.session import GraphAdapter
from shared.app.ports.rooms import SubscriptionInfo
from shared.errors import NotFound, TransientError

__all__ = ["GraphSubscriptionGateway", "call_graph", "to_json"]


async def call_graph(subject: str, awaitable: Any, *, gone_on_404: bool = False) -> Any:
    """Await an SDK call; map Graph's and the transport's errors onto the connector's.

    ``gone_on_404``: any 404 means the object is gone (a subscription), never an unknown mailbox.
    """
    from azure.core.exceptions import ClientAuthenticationError
    from kiota_abstractions.api_error import APIError

    from shared.adapters.graph.calendar import classify_graph_error

    try:
        return await awaitable
    except APIError as exc:
        error = getattr(exc, "error", None)
        message = getattr(error, "message", None) or exc.message
        if gone_on_404 and exc.response_status_code == 404:
            raise NotFound(f"{subject} is gone: {message}") from exc
        raise classify_graph_error(exc.response_status_code or 0, getattr(error, "code", None), message,
                                   exc.response_headers, subject) from exc
    except ClientAuthenticationError as exc:
        raise TransientError("no Graph token") from exc
    except httpx.HTTPError as exc:
        raise TransientError(f"Graph unreachable: {type(exc).__name__}") from exc


def to_json(model: Any) -> dict[str, Any]:
    """An SDK model back to Graph's JSON (camelCase, additional data such as ``@removed`` kept)."""
    from kiota_serialization_json.json_serialization_writer import JsonSerializationWriter

    writer = JsonSerializationWriter()
    writer.write_object_value(None, model)
    loaded: dict[str, Any] = json.loads(writer.get_serialized_content())
    return loaded


def from_json(model_type: Any, payload: dict[str, Any]) -> Any:
    from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory

    node = JsonParseNodeFactory().get_root_parse_node("application/json", json.dumps(payload).encode("utf-8"))
    return node.get_object_value(model_type)


def _utc(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _event_grid_opt_in(notification_url: str) -> Any:
    """The header Graph's Event Grid delivery asks for on create (learn.microsoft.com/azure/event-grid/
    subscribe-to-graph-api-events: ``x-ms-enable-features: EventGrid``); nothing for a webhook."""
    if not notification_url.startswith("EventGrid:"):
        return None
    from kiota_abstractions.base_request_configuration import RequestConfiguration

    config: Any = RequestConfiguration()
    config.headers.add("x-ms-enable-features", "EventGrid")
    return config


def _info(subscription: Any) -> SubscriptionInfo:
    expires = subscription.expiration_date_time
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return SubscriptionInfo(str(subscription.id), expires)


class GraphSubscriptionGateway(GraphAdapter):
    async def create(self, room: str, *, notification_url: str, lifecycle_url: str, client_state: str,
                     expires_at: datetime) -> SubscriptionInfo:
        from msgraph.generated.models.subscription import Subscription

        body = from_json(Subscription, {
            "changeType": "created,updated,deleted",
            "notificationUrl": notification_url,
            "lifecycleNotificationUrl": lifecycle_url,
            "resource": f"/users/{room}/events",
            "expirationDateTime": _utc(expires_at),
            "clientState": client_state,
            "latestSupportedTlsVersion": "v1_2",
        })
        return _info(await call_graph(room, self._client.subscriptions.post(
            body, request_configuration=_event_grid_opt_in(notification_url))))

    async def renew(self, subscription_id: str, expires_at: datetime) -> SubscriptionInfo:
        from msgraph.generated.models.subscription import Subscription

        body = from_json(Subscription, {"expirationDateTime": _utc(expires_at)})
        item = self._client.subscriptions.by_subscription_id(subscription_id)
        return _info(await call_graph(f"subscription {subscription_id}", item.patch(body), gone_on_404=True))

    async def live(self) -> dict[str, datetime]:
        builder = self._client.subscriptions
        pending = builder.get()
        expiries: dict[str, datetime] = {}
        for _ in range(100):
            page = await call_graph("subscriptions", pending)
            expiries.update((info.id, info.expires_at) for info in map(_info, page.value or []))
            if not page.odata_next_link:
                return expiries
            pending = builder.with_url(page.odata_next_link).get()
        return expiries

    async def reauthorize(self, subscription_id: str) -> None:
        item = self._client.subscriptions.by_subscription_id(subscription_id)
        await call_graph(f"subscription {subscription_id}", item.reauthorize.post(), gone_on_404=True)

    async def delete(self, subscription_id: str) -> None:
        item = self._client.subscriptions.by_subscription_id(subscription_id)
        await call_graph(f"subscription {subscription_id}", item.delete(), gone_on_404=True)
