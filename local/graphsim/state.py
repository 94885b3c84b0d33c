"""In-memory state of the simulator, shared by the HTTP handlers and in-process callers.

Every public method takes the lock: tests call these from their own thread while the server loop
runs in another one.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import events as ev_mod
from .appcreds import CredentialStore
from .errors import GraphError
from .features import SimFeatures
from .principals import PrincipalPasswords
from .tenants import Tenancy
from .throttle import Throttle, ThrottleConfig

DEFAULT_ROLES = ["Calendars.ReadWrite", "User.Read.All"]
TOKEN_LIFETIME = 3599  # seconds, as Entra's expires_in for app tokens

# Body used when a fault names only a status: what Graph says for that status.
_FAULT_DEFAULTS = {
    400: ("BadRequest", "Bad request."),
    401: ("InvalidAuthenticationToken", "Access token has expired or is not yet valid."),
    403: ("ErrorAccessDenied", "Access to OData is disabled."),
    404: ("ErrorItemNotFound", "The specified object was not found in the store."),
    409: ("ErrorIrresolvableConflict", "The send or update operation could not be performed "
          "because the change key passed in the request does not match the current change key "
          "for the item."),
    429: ("TooManyRequests", "Please retry again later."),
    500: ("InternalServerError", "An internal server error occurred. The operation failed."),
    502: ("BadGateway", "Bad gateway."),
    503: ("ServiceNotAvailable", "The service is temporarily unavailable. Please try again later."),
    504: ("GatewayTimeout", "The request timed out."),
}


@dataclass
class App:
    client_id: str
    client_secret: str
    tenant_id: str
    roles: list[str]
    object_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class Fault:
    id: str
    status: int
    error_code: str
    message: str
    count: int
    phase: str = "before"
    mailbox: str | None = None
    method: str | None = None
    path_contains: str | None = None
    retry_after: int | None = None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id, "status": self.status, "errorCode": self.error_code,
            "message": self.message, "count": self.count, "phase": self.phase,
            "mailbox": self.mailbox, "method": self.method, "pathContains": self.path_contains,
            "retryAfter": self.retry_after,
        }


class SimState(SimFeatures):
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.RLock()
        self.apps: dict[str, App] = {}
        # Passwords, certificates, federated credentials, owners, managed identities (appcreds.py).
        self.creds = CredentialStore(self._lock, self.apps)
        self._users: dict[str, dict[str, Any]] = {}  # by id
        self._events: dict[str, dict[str, ev_mod.StoredEvent]] = {}  # mailbox id -> id -> event
        self._seq = itertools.count(1)
        self._faults: list[Fault] = []
        self._requests: list[dict[str, Any]] = []
        self.throttle = Throttle(clock)
        self.latency_ms = 0
        self.latency_generation = 0
        self.token_lifetime = TOKEN_LIFETIME
        self._token_requests: dict[str, int] = {}
        self._init_features()  # rooms, subscriptions, delta (features.py)
        self.tenancy = Tenancy(self._lock, self.apps)  # several directories (tenants.py)
        self.principals = PrincipalPasswords(self._lock, self.tenancy)  # their service principals' passwords

    # -- clock: tests may replace it to move throttle windows without waiting
    @property
    def clock(self) -> Callable[[], float]:
        return self.throttle.clock

    @clock.setter
    def clock(self, fn: Callable[[], float]) -> None:
        self.throttle.clock = fn

    # -- apps
    def add_app(self, client_id: str, client_secret: str, tenant_id: str,
                roles: list[str] | None = None) -> App:
        with self._lock:
            app = App(client_id, client_secret, tenant_id,
                      list(DEFAULT_ROLES if roles is None else roles))
            old = self.apps.get(client_id)
            if old is not None:
                app.object_id = old.object_id
            self.apps[client_id] = app
            self.creds.register(client_id, client_secret)
            return app

    def tenants(self) -> set[str]:
        with self._lock:
            return {a.tenant_id.lower() for a in self.apps.values()} | self.tenancy.tenants()

    # -- users
    def add_user(self, user_principal_name: str, display_name: str | None = None,
                 mail: str | None = None, id: str | None = None,
                 account_enabled: bool = True) -> dict[str, Any]:
        with self._lock:
            existing = self.find_user(user_principal_name)
            user_id = id or (existing["id"] if existing else str(uuid.uuid4()))
            if existing and existing["id"] != user_id:
                del self._users[existing["id"]]
            user = {
                "id": user_id,
                "userPrincipalName": user_principal_name,
                "displayName": display_name if display_name is not None else user_principal_name,
                "mail": mail or user_principal_name,
                "accountEnabled": bool(account_enabled),
            }
            self._users[user_id] = user
            self._user_changed(user_id)
            return dict(user)

    def users(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(u) for u in self._users.values()]

    def find_user(self, key: str) -> dict[str, Any] | None:
        """By id or userPrincipalName, both case-insensitive as in Graph."""
        with self._lock:
            k = key.strip().lower()
            for u in self._users.values():
                if u["id"].lower() == k or u["userPrincipalName"].lower() == k:
                    return u
            return None

    # -- events
    def _mailbox(self, key: str) -> tuple[dict[str, Any], dict[str, ev_mod.StoredEvent]]:
        user = self.find_user(key)
        if user is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{key}' is invalid.")
        return user, self._events.setdefault(user["id"], {})

    def create_event(self, mailbox: str, body: dict[str, Any]) -> ev_mod.StoredEvent:
        with self._lock:
            _, box = self._mailbox(mailbox)
            tx = body.get("transactionId")
            if tx:
                for existing in box.values():
                    if existing.transaction_id == tx:
                        # Graph's retry dedup: the original event, nothing created.
                        return existing
            user_id = self._mailbox(mailbox)[0]["id"]
            ev = ev_mod.create(user_id, next(self._seq), body, _now())
            box[ev.id] = ev
            self._event_changed("created", ev)
            return ev

    def get_event(self, mailbox: str, event_id: str) -> ev_mod.StoredEvent:
        with self._lock:
            _, box = self._mailbox(mailbox)
            ev = box.get(event_id)
            if ev is None:
                raise GraphError(404, "ErrorItemNotFound",
                                 "The specified object was not found in the store.")
            return ev

    def update_event(self, mailbox: str, event_id: str, body: dict[str, Any]) -> ev_mod.StoredEvent:
        with self._lock:
            ev = self.get_event(mailbox, event_id)
            ev_mod.apply_write(ev, body, _now())
            self._event_changed("updated", ev)
            return ev

    def delete_event(self, mailbox: str, event_id: str) -> None:
        with self._lock:
            ev = self.get_event(mailbox, event_id)
            del self._mailbox(mailbox)[1][event_id]
            self._event_changed("deleted", ev)

    def list_events(self, mailbox: str) -> list[ev_mod.StoredEvent]:
        with self._lock:
            return sorted(self._mailbox(mailbox)[1].values(), key=lambda e: e.seq)

    def organizer_of(self, mailbox_id: str) -> dict[str, Any]:
        with self._lock:
            user = self._users.get(mailbox_id) or {"displayName": mailbox_id, "mail": mailbox_id}
            return {"emailAddress": {"name": user["displayName"], "address": user["mail"]}}

    def events_of(self, mailbox: str) -> list[dict[str, Any]]:
        """Every event of the mailbox, full (extended properties, transactionId), UTC, by start."""
        with self._lock:
            items = sorted(self.list_events(mailbox), key=lambda e: (e.start, e.seq))
            return [
                ev_mod.render(e, organizer=self.organizer_of(e.mailbox_id), context=None,
                              zone="UTC", full=True)
                for e in items
            ]

    # -- faults
    def add_fault(self, status: int, *, mailbox: str | None = None, method: str | None = None,
                  path_contains: str | None = None, retry_after: int | None = None,
                  error_code: str | None = None, message: str | None = None, count: int = 1,
                  phase: str = "before") -> str:
        if phase not in ("before", "after"):
            raise ValueError("phase must be 'before' or 'after'")
        code, text = _FAULT_DEFAULTS.get(int(status), ("UnknownError", "Simulated failure."))
        fault = Fault(
            id=str(uuid.uuid4()), status=int(status), error_code=error_code or code,
            message=message or text, count=int(count), phase=phase, mailbox=mailbox,
            method=method.upper() if method else None, path_contains=path_contains,
            retry_after=None if retry_after is None else int(retry_after),
        )
        with self._lock:
            self._faults.append(fault)
        return fault.id

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.public() for f in self._faults]

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def take_fault(self, phase: str, method: str, path: str, mailbox_id: str | None) -> Fault | None:
        """The first matching fault of that phase, consuming one of its count."""
        with self._lock:
            for fault in self._faults:
                if fault.phase != phase or fault.count <= 0:
                    continue
                if fault.method and fault.method != method.upper():
                    continue
                if fault.path_contains and fault.path_contains.lower() not in path.lower():
                    continue
                if fault.mailbox:
                    target = self.find_user(fault.mailbox)
                    wanted = target["id"] if target else fault.mailbox.lower()
                    if mailbox_id is None or wanted.lower() != mailbox_id.lower():
                        continue
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
                return fault
            return None

    # -- throttle and latency
    def set_throttle(self, concurrency: int | None = None, budget: int | None = None,
                     window_seconds: float | None = None) -> ThrottleConfig:
        return self.throttle.configure(concurrency, budget, window_seconds)

    def set_latency(self, ms: int) -> None:
        with self._lock:
            self.latency_ms = max(0, int(ms))
            # Requests sleeping under the old setting watch this and stop waiting.
            self.latency_generation += 1

    # -- token endpoint
    def count_token_request(self, client_id: str) -> None:
        with self._lock:
            self._token_requests[client_id] = self._token_requests.get(client_id, 0) + 1

    def token_requests(self, client_id: str | None = None) -> int:
        """Requests to the token endpoint (any grant, refused ones too) since the last reset."""
        with self._lock:
            return sum(n for c, n in self._token_requests.items() if client_id in (None, c))

    def set_token_lifetime(self, seconds: int | None) -> int:
        """Lifetime of the tokens issued from now on (None: Entra's usual); tests use it to let a
        client's cached token run out."""
        with self._lock:
            self.token_lifetime = TOKEN_LIFETIME if seconds is None else max(1, int(seconds))
            return self.token_lifetime

    # -- request log
    def log_request(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._requests.append(entry)

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._requests]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def reset(self) -> None:
        """Clear events, faults, request log, throttle, latency, token counts and lifetime,
        subscriptions, notifications and delta state; users, rooms and apps stay."""
        with self._lock:
            self._events.clear()
            self._token_requests.clear()
            self.token_lifetime = TOKEN_LIFETIME
            self._faults.clear()
            self._requests.clear()
            self.throttle.reset()
            self.set_latency(0)
            self._reset_features()


def _now() -> datetime:
    return datetime.now(UTC)
