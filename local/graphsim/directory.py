"""SimState methods for change tracking: users disabled or removed, the journals behind delta
queries, and the delta/skip token store.

Journals are append-only lists; a delta token remembers a position in them, so a later round
reports exactly what changed since. Tokens live server side so that the control API can expire
them all at once (``POST /_sim/delta/expire`` → 410 SyncStateNotFound on next use).
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import Any

from .errors import GraphError


@dataclass(frozen=True)
class EventChange:
    mailbox_id: str
    event_id: str
    kind: str  # created | updated | deleted
    snapshot: Any = None  # the StoredEvent as it was, for deletions


@dataclass(frozen=True)
class UserChange:
    user_id: str
    kind: str  # changed | softDeleted | deleted


class DirectoryMixin:
    _lock: threading.RLock
    _users: dict[str, dict[str, Any]]
    _events: dict[str, dict[str, Any]]

    def _init_directory(self) -> None:
        self._event_journal: list[EventChange] = []
        self._user_journal: list[UserChange] = []
        self._soft_deleted: dict[str, dict[str, Any]] = {}
        self._delta_states: dict[str, dict[str, Any]] = {}

    def _reset_directory(self) -> None:
        # Users stay across resets, so their journal does too; event history goes with the events.
        self._event_journal.clear()
        self._delta_states.clear()

    # -- users changed "in Entra"
    def update_user(self, key: str, *, account_enabled: bool | None = None,
                    display_name: str | None = None) -> dict[str, Any]:
        with self._lock:
            user = self.find_user(key)  # type: ignore[attr-defined]
            if user is None:
                raise GraphError(404, "Request_ResourceNotFound", f"Resource '{key}' does not exist.")
            if account_enabled is not None:
                user["accountEnabled"] = bool(account_enabled)
            if display_name is not None:
                user["displayName"] = display_name
            self._user_journal.append(UserChange(user["id"], "changed"))
            return dict(user)

    def delete_user(self, key: str, *, permanent: bool = False) -> None:
        """Soft delete (restorable, delta reason "changed") or permanent (reason "deleted")."""
        with self._lock:
            user = self.find_user(key) or next(  # type: ignore[attr-defined]
                (u for u in self._soft_deleted.values()
                 if key.lower() in (u["id"].lower(), u["userPrincipalName"].lower())), None)
            if user is None:
                raise GraphError(404, "Request_ResourceNotFound", f"Resource '{key}' does not exist.")
            self._users.pop(user["id"], None)
            if permanent:
                self._soft_deleted.pop(user["id"], None)
                self._events.pop(user["id"], None)
            else:
                self._soft_deleted[user["id"]] = user
            self._user_journal.append(UserChange(user["id"], "deleted" if permanent else "softDeleted"))

    def _user_changed(self, user_id: str) -> None:
        with self._lock:
            self._soft_deleted.pop(user_id, None)  # re-adding restores
            self._user_journal.append(UserChange(user_id, "changed"))

    # -- journals, read by delta.py
    def event_changes_since(self, mailbox_id: str, position: int) -> tuple[list[EventChange], int]:
        """The last change of each event of the mailbox after ``position``, and the new position."""
        with self._lock:
            last: dict[str, EventChange] = {}
            for change in self._event_journal[position:]:
                if change.mailbox_id == mailbox_id:
                    last.pop(change.event_id, None)
                    last[change.event_id] = change
            return list(last.values()), len(self._event_journal)

    def event_journal_position(self) -> int:
        with self._lock:
            return len(self._event_journal)

    def user_changes_since(self, position: int) -> tuple[list[UserChange], int]:
        with self._lock:
            last: dict[str, UserChange] = {}
            for change in self._user_journal[position:]:
                last.pop(change.user_id, None)
                last[change.user_id] = change
            return list(last.values()), len(self._user_journal)

    def user_journal_position(self) -> int:
        with self._lock:
            return len(self._user_journal)

    def _record_event_change(self, mailbox_id: str, event_id: str, kind: str,
                             snapshot: Any = None) -> None:
        self._event_journal.append(EventChange(mailbox_id, event_id, kind, snapshot))

    # -- token store
    def store_delta_state(self, data: dict[str, Any]) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._delta_states[token] = data
        return token

    def load_delta_state(self, token: str, kind: str) -> dict[str, Any]:
        with self._lock:
            data = self._delta_states.get(token)
            if data is None or data.get("kind") != kind:
                raise GraphError(410, "SyncStateNotFound",
                                 "The sync state generation is not found. Please start a full "
                                 "sync again.")
            return data

    def expire_delta_tokens(self) -> int:
        """Every outstanding delta and skip token becomes invalid; returns how many there were."""
        with self._lock:
            count = len(self._delta_states)
            self._delta_states.clear()
            return count
