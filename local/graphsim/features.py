"""The room-related behaviour SimState mixes in: rooms and auto-accept, subscriptions and
notifications, users changing, journals for delta. ``state.py`` calls the three hooks below.
"""

from __future__ import annotations

from typing import Any

from .directory import DirectoryMixin
from .meetings import MeetingsMixin
from .rooms import RoomsMixin
from .schedule_state import WorkingHoursMixin
from .subscription_state import SubscriptionsMixin


class SimFeatures(RoomsMixin, SubscriptionsMixin, DirectoryMixin, MeetingsMixin, WorkingHoursMixin):
    def _init_features(self) -> None:
        self._init_rooms()
        self._init_subscriptions()
        self._init_directory()
        self._init_meetings()
        self._init_schedule()

    def _reset_features(self) -> None:
        """Subscriptions, notifications, journals and delta tokens go; rooms (and users) stay."""
        self._reset_subscriptions()
        self._reset_directory()
        self._reset_meetings()
        self._reset_schedule()
        self.room_update_echoes = 2

    def _event_changed(self, kind: str, ev: Any, echoes: int = 0) -> None:
        """After any event write (Graph, Outlook, auto-accept), under the state lock: journal it,
        notify subscribers (asynchronously), let booked rooms follow."""
        self._meeting_changed(kind, ev)  # online meeting, rooms' answers, invitations (meetings.py)
        self._record_event_change(ev.mailbox_id, ev.id, kind, ev if kind == "deleted" else None)
        self._notify_event(kind, ev, echoes)
        self._sync_room_copies(kind, ev)

    def close(self) -> None:
        """Stops the notification thread (the server calls this on stop)."""
        self.notifier.stop()
