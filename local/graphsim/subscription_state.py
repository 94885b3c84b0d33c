"""SimState methods for subscriptions and the notifications they cause.

Methods taking ``client_id`` act as that application (what GET/PATCH/DELETE /subscriptions see);
the unqualified ones are the control API's view of everything.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from . import eventgrid
from . import events as ev_mod
from . import subscriptions as subs
from .errors import GraphError
from .notifier import Notifier

LIFECYCLE_EVENTS = {"reauthorizationRequired", "subscriptionRemoved", "missed"}


def _not_found(sub_id: str) -> GraphError:
    return GraphError(404, "ResourceNotFound", f"The object was not found. Subscription '{sub_id}'.")


class SubscriptionsMixin:
    _lock: threading.RLock

    def _init_subscriptions(self) -> None:
        self._subs: dict[str, subs.Subscription] = {}
        self.subscription_lifetime: int | None = None  # minutes Graph grants at most; None: as asked
        self.notifier = Notifier(self._deliverable)
        self.partner_topics = eventgrid.PartnerTopics()  # Azure's side: kept across reset()

    def _reset_subscriptions(self) -> None:
        self._subs.clear()
        self.subscription_lifetime = None
        self.notifier.reset()

    def _granted(self, asked: datetime, now: datetime) -> datetime:
        """Graph may grant a shorter lifetime than asked; its answer carries the one granted."""
        if self.subscription_lifetime is None:
            return asked
        return min(asked, now + timedelta(minutes=self.subscription_lifetime))

    def _deliverable(self, sub_id: str, kind: str) -> bool:
        if kind in LIFECYCLE_EVENTS:
            return True
        with self._lock:
            sub = self._subs.get(sub_id)
            return sub is not None and not sub.expired()

    def _live(self, client_id: str | None, sub_id: str) -> subs.Subscription:
        sub = self._subs.get(sub_id)
        if sub is None or sub.expired() or (client_id is not None and sub.application_id != client_id):
            raise _not_found(sub_id)
        return sub

    # -- Graph's view, per application
    def prepare_subscription(self, client_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Checks a POST /subscriptions body (400/404/409) before the validation handshake."""
        with self._lock:
            parsed = subs.parse_create(body, datetime.now(UTC))
            user = self.find_user(parsed["mailbox"])  # type: ignore[attr-defined]
            if user is None:
                raise GraphError(404, "ResourceNotFound",
                                 f"The mailbox '{parsed['mailbox']}' was not found.")
            parsed["mailbox_id"] = user["id"]
            for other in self._subs.values():
                if not other.expired() and other.mailbox_id == user["id"] \
                        and other.notification_url == parsed["notification_url"] \
                        and sorted(other.change_types) == sorted(parsed["change_types"]):
                    raise GraphError(409, "Conflict",
                                     f"A subscription for this resource, change type and "
                                     f"notificationUrl already exists: {other.id}.")
            return parsed

    def subscribe(self, client_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Creates the subscription without a handshake (the HTTP handler does that first)."""
        with self._lock:
            parsed = self.prepare_subscription(client_id, body)
            app = self.apps[client_id]  # type: ignore[attr-defined]
            sub = subs.Subscription(
                id=subs.new_id(), resource=parsed["resource"], mailbox_id=parsed["mailbox_id"],
                application_id=client_id, tenant_id=app.tenant_id, creator_id=app.object_id,
                change_types=parsed["change_types"], client_state=parsed["client_state"],
                notification_url=parsed["notification_url"], lifecycle_url=parsed["lifecycle_url"],
                expiration=self._granted(parsed["expiration"], datetime.now(UTC)),
                tls_version=parsed["tls_version"])
            self._subs[sub.id] = sub
            for url in (sub.notification_url, sub.lifecycle_url):
                if eventgrid.is_event_grid(url):
                    self.partner_topics.ensure(str(url))  # Graph creates the partner topic on first use
            return sub.public()

    def get_subscription(self, client_id: str, sub_id: str) -> dict[str, Any]:
        with self._lock:
            return self._live(client_id, sub_id).public()

    def list_subscriptions(self, client_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [s.public() for s in self._subs.values()
                    if s.application_id == client_id and not s.expired()]

    def renew_subscription(self, client_id: str, sub_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            sub = self._live(client_id, sub_id)
            if "expirationDateTime" not in body and "notificationUrl" not in body:
                raise GraphError(400, "InvalidRequest",
                                 "expirationDateTime or notificationUrl is required.")
            if "lifecycleNotificationUrl" in body:
                raise GraphError(400, "InvalidRequest", "lifecycleNotificationUrl cannot be "
                                 "changed; delete and recreate the subscription.")
            if "expirationDateTime" in body:
                now = datetime.now(UTC)
                sub.expiration = self._granted(subs.check_expiration(body["expirationDateTime"], now), now)
            if "notificationUrl" in body:
                sub.notification_url = subs.check_url(body["notificationUrl"], "notificationUrl")
            return sub.public()

    def delete_subscription(self, client_id: str, sub_id: str) -> None:
        with self._lock:
            self._live(client_id, sub_id)
            del self._subs[sub_id]

    def reauthorize_subscription(self, client_id: str, sub_id: str) -> None:
        with self._lock:
            self._live(client_id, sub_id)

    # -- control view
    def subscriptions(self) -> list[dict[str, Any]]:
        """Every subscription not deleted, expired ones too (``expired``: true)."""
        with self._lock:
            return [s.public() | {"expired": s.expired(), "mailboxId": s.mailbox_id}
                    for s in self._subs.values()]

    def set_subscription_lifetime(self, minutes: int | None) -> dict[str, Any]:
        """Graph grants at most ``minutes`` on create and renew from now on, and live subscriptions
        expiring later are shortened to it (Graph's view is what counts); None: as asked again."""
        if minutes is not None and int(minutes) < 1:
            raise GraphError(400, "BadRequest", "maxMinutes must be at least 1 (or null).")
        with self._lock:
            self.subscription_lifetime = None if minutes is None else int(minutes)
            now = datetime.now(UTC)
            for sub in self._subs.values():
                if not sub.expired(now):
                    sub.expiration = self._granted(sub.expiration, now)
            return {"maxMinutes": self.subscription_lifetime}

    def expire_subscription(self, sub_id: str) -> None:
        with self._lock:
            sub = self._subs.get(sub_id)
            if sub is None:
                raise _not_found(sub_id)
            sub.expiration = datetime.now(UTC)

    def send_lifecycle(self, sub_id: str, event: str) -> dict[str, Any]:
        """Queues a lifecycle notification; subscriptionRemoved also deletes the subscription."""
        if event not in LIFECYCLE_EVENTS:
            raise GraphError(400, "BadRequest", f"lifecycleEvent must be one of {sorted(LIFECYCLE_EVENTS)}.")
        with self._lock:
            sub = self._subs.get(sub_id)
            if sub is None:
                raise _not_found(sub_id)
            if not sub.lifecycle_url:
                raise GraphError(409, "Conflict", "The subscription has no lifecycleNotificationUrl.")
            item = {"subscriptionId": sub.id,
                    "subscriptionExpirationDateTime": ev_mod.fmt_ts(sub.expiration),
                    "tenantId": sub.tenant_id, "clientState": sub.client_state,
                    "lifecycleEvent": event}
            if event == "subscriptionRemoved":
                del self._subs[sub_id]
            if eventgrid.is_event_grid(sub.lifecycle_url):
                self._publish(sub.lifecycle_url, eventgrid.lifecycle_event(sub, item), sub.id, event)
            else:
                self.notifier.enqueue(sub.lifecycle_url, {"value": [item]}, sub.id, event)
            return item

    def set_notifications(self, *, paused: bool | None = None, discard: bool = False,
                          retry_delays: list[float] | None = None,
                          room_update_echoes: int | None = None) -> dict[str, Any]:
        """Hold (paused) or release deliveries; ``discard`` drops the held ones (a gap)."""
        with self._lock:
            if retry_delays is not None:
                self.notifier.retry_delays = tuple(float(d) for d in retry_delays)
            if room_update_echoes is not None:
                self.room_update_echoes = max(0, int(room_update_echoes))
            self.notifier.set_paused(self.notifier.paused if paused is None else bool(paused), discard)
            return {"paused": self.notifier.paused, "retryDelays": list(self.notifier.retry_delays),
                    "roomUpdateEchoes": self.room_update_echoes, "pending": self.notifier.pending()}

    def notifications(self) -> list[dict[str, Any]]:
        """Every delivery attempt: url, subscriptionId, changeType, status, attempt, at."""
        return self.notifier.log()

    # -- fan-out, under the lock, from _event_changed
    def _notify_event(self, kind: str, ev: ev_mod.StoredEvent, echoes: int = 0) -> None:
        now = datetime.now(UTC)
        for sub in self._subs.values():
            if sub.mailbox_id != ev.mailbox_id or sub.expired(now):
                continue
            kinds = [kind] + (["updated"] * echoes)
            for k in kinds:
                if k not in sub.change_types:
                    continue
                if eventgrid.is_event_grid(sub.notification_url):
                    cloud_event = eventgrid.change_event(sub, k, ev.mailbox_id, ev.id, f'W/"{ev.change_key}"',
                                                         ev_mod.fmt_ts(sub.expiration))
                    self._publish(sub.notification_url, cloud_event, sub.id, k)
                else:
                    self.notifier.enqueue(sub.notification_url, _payload(sub, k, ev), sub.id, k)

    def _publish(self, url: str, cloud_event: dict[str, Any], sub_id: str, kind: str) -> None:
        """Graph publishes to the partner topic; Event Grid delivers it to the topic's event subscription
        (one event per request here), or drops it while the topic is not activated."""
        destination = self.partner_topics.destination(url)
        if destination is None:
            self.notifier.record(url, sub_id, kind, "dropped: partner topic not activated")
            return
        endpoint, headers = destination
        self.notifier.enqueue(endpoint, [cloud_event], sub_id, kind, headers=headers)

    # -- Event Grid's side
    def subscribe_partner_topic(self, name: str, endpoint: str | None,
                                headers: dict[str, str] | None = None) -> dict[str, Any]:
        """Activate partner topic ``name`` with an event subscription to ``endpoint`` (None: deactivate)."""
        return self.partner_topics.subscribe(name, endpoint, headers)


def _payload(sub: subs.Subscription, kind: str, ev: ev_mod.StoredEvent) -> dict[str, Any]:
    path = f"Users/{ev.mailbox_id}/Events/{ev.id}"
    return {"value": [{
        "subscriptionId": sub.id,
        "subscriptionExpirationDateTime": ev_mod.fmt_ts(sub.expiration),
        "changeType": kind, "resource": path,
        "resourceData": {"@odata.type": "#Microsoft.Graph.Event", "@odata.id": path,
                         "@odata.etag": f'W/"{ev.change_key}"', "id": ev.id},
        "clientState": sub.client_state, "tenantId": sub.tenant_id,
    }]}

