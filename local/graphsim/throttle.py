"""Outlook's per app + mailbox limits: concurrent requests and a request budget per window.

Graph keeps counting requests while it throttles a client, so a 429 also uses budget; a client that
retries without honouring Retry-After stays throttled, which is what the connector must survive.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_CONCURRENCY = 4
DEFAULT_BUDGET = 10_000
DEFAULT_WINDOW_SECONDS = 600.0
# Graph does not document a Retry-After for concurrency breaches; a short one lets clients recover.
CONCURRENCY_RETRY_AFTER = 1


@dataclass
class ThrottleConfig:
    concurrency: int = DEFAULT_CONCURRENCY
    budget: int = DEFAULT_BUDGET
    window_seconds: float = DEFAULT_WINDOW_SECONDS


@dataclass(frozen=True)
class Throttled:
    code: str
    message: str
    retry_after: int


Key = tuple[str, str]  # (client id, mailbox id)


class Throttle:
    """Thread-safe: tests change limits from their own thread while the server loop admits requests."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.config = ThrottleConfig()
        self._lock = threading.Lock()
        self._hits: dict[Key, deque[float]] = {}
        self._in_flight: dict[Key, int] = {}
        # The most requests a client had at one mailbox at once, refused ones included: what tests
        # read to prove a client keeps to Outlook's limit rather than leaning on the 429s.
        self._peak: dict[Key, int] = {}

    def configure(
        self,
        concurrency: int | None = None,
        budget: int | None = None,
        window_seconds: float | None = None,
    ) -> ThrottleConfig:
        with self._lock:
            if concurrency is not None:
                self.config.concurrency = int(concurrency)
            if budget is not None:
                self.config.budget = int(budget)
            if window_seconds is not None:
                self.config.window_seconds = float(window_seconds)
            return ThrottleConfig(**vars(self.config))

    def reset(self) -> None:
        with self._lock:
            self.config = ThrottleConfig()
            self._hits.clear()
            self._peak.clear()
            # In-flight counts are left alone: those requests are still running and will release.

    def count(self, key: Key) -> Throttled | None:
        """Record one request against the budget; say whether it is over budget."""
        with self._lock:
            now = self.clock()
            hits = self._hits.setdefault(key, deque())
            horizon = now - self.config.window_seconds
            while hits and hits[0] <= horizon:
                hits.popleft()
            hits.append(now)
            if len(hits) <= self.config.budget:
                return None
            # The window frees a slot when the oldest request in it ages out.
            # Retrying must find budget - 1 requests in the window, so the budget-th newest must
            # have aged out.
            window = self.config.window_seconds
            wait = hits[-self.config.budget] + window - now if self.config.budget > 0 else window
            return Throttled(
                "TooManyRequests", "Please retry again later.", max(1, math.ceil(wait))
            )

    def acquire(self, key: Key) -> Throttled | None:
        with self._lock:
            running = self._in_flight.get(key, 0)
            self._peak[key] = max(self._peak.get(key, 0), running + 1)
            if running >= self.config.concurrency:
                return Throttled(
                    "ApplicationThrottled",
                    "Application is over its MailboxConcurrency limit.",
                    CONCURRENCY_RETRY_AFTER,
                )
            self._in_flight[key] = running + 1
            return None

    def release(self, key: Key) -> None:
        with self._lock:
            running = self._in_flight.get(key, 0) - 1
            if running > 0:
                self._in_flight[key] = running
            else:
                self._in_flight.pop(key, None)

    def in_flight(self, mailbox_id: str | None = None) -> int:
        with self._lock:
            return sum(n for (_, mb), n in self._in_flight.items() if mailbox_id in (None, mb))

    def peak(self, mailbox_id: str | None = None) -> int:
        """The most requests one app had at once at this mailbox (at any mailbox when None)."""
        with self._lock:
            return max((n for (_, mb), n in self._peak.items() if mailbox_id in (None, mb)), default=0)

    def concurrency(self) -> list[dict[str, object]]:
        """Per app and mailbox: requests in flight now and the peak since the last reset."""
        with self._lock:
            keys = sorted(set(self._peak) | set(self._in_flight))
            return [{"clientId": app, "mailbox": mailbox, "inFlight": self._in_flight.get((app, mailbox), 0),
                     "peak": self._peak.get((app, mailbox), 0)} for app, mailbox in keys]
