"""Delivers change and lifecycle notifications from a background thread, like Graph: never inside
the request that caused the change, retrying non-2xx answers with a short backoff.

One POST per notification keeps the delivery log readable; Graph may batch, and receivers must
handle a ``value`` list either way. Deliveries can be paused (held) to simulate a gap, then
released or discarded.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

log = logging.getLogger("graphsim.notifier")

DEFAULT_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)
# Graph gives a receiver 10 s per retry attempt (facts.md 3.4).
DELIVERY_TIMEOUT = 10.0


@dataclass(order=True)
class Delivery:
    due: float
    seq: int
    url: str = field(compare=False)
    payload: Any = field(compare=False)  # a notification collection, or a batch of CloudEvents (Event Grid)
    subscription_id: str = field(compare=False)
    kind: str = field(compare=False)  # changeType or lifecycleEvent
    attempt: int = field(compare=False, default=0)
    generation: int = field(compare=False, default=0)
    headers: dict[str, str] = field(compare=False, default_factory=dict)


class Notifier:
    """Thread-safe queue of deliveries with its own worker thread, started on first use.

    ``still_valid(subscription_id)`` is asked right before each attempt: a subscription deleted or
    expired while a notification waited sends nothing.
    """

    def __init__(self, still_valid: Callable[[str, str], bool]) -> None:
        self._still_valid = still_valid
        self._cond = threading.Condition()
        self._heap: list[Delivery] = []
        self._seq = itertools.count()
        self._log: list[dict[str, Any]] = []
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._generation = 0
        self._in_flight = 0
        self.paused = False
        self.retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS

    def enqueue(self, url: str, payload: Any, subscription_id: str, kind: str,
                headers: dict[str, str] | None = None) -> None:
        with self._cond:
            heapq.heappush(self._heap, Delivery(time.monotonic(), next(self._seq), url, payload,
                                                subscription_id, kind, 0, self._generation, dict(headers or {})))
            self._ensure_thread()
            self._cond.notify_all()

    def set_paused(self, paused: bool, discard: bool = False) -> None:
        with self._cond:
            self.paused = paused
            if discard:
                for item in self._heap:
                    self._record(item, "dropped")
                self._heap.clear()
            self._cond.notify_all()

    def log(self) -> list[dict[str, Any]]:
        with self._cond:
            return [dict(e) for e in self._log]

    def pending(self) -> int:
        with self._cond:
            return len(self._heap) + self._in_flight

    def reset(self) -> None:
        with self._cond:
            self._generation += 1  # an attempt already running is not logged or retried
            self._heap.clear()
            self._log.clear()
            self.paused = False
            self.retry_delays = DEFAULT_RETRY_DELAYS
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=DELIVERY_TIMEOUT + 1)

    # -- worker
    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="graphsim-notifier", daemon=True)
            self._thread.start()

    def _next(self) -> Delivery | None:
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                if self._heap and not self.paused and self._heap[0].due <= now:
                    self._in_flight += 1
                    return heapq.heappop(self._heap)
                wait = None if not self._heap or self.paused else self._heap[0].due - now
                self._cond.wait(timeout=wait if wait is None else max(wait, 0.01))
            return None

    def _run(self) -> None:
        # Graph connects directly: no proxy from the environment may sit in front of a loopback hook.
        with httpx.Client(timeout=DELIVERY_TIMEOUT, trust_env=False) as client:
            while (item := self._next()) is not None:
                try:
                    self._attempt(client, item)
                finally:
                    with self._cond:
                        self._in_flight -= 1

    def _attempt(self, client: httpx.Client, item: Delivery) -> None:
        if not self._still_valid(item.subscription_id, item.kind):
            with self._cond:
                if item.generation == self._generation:
                    self._record(item, "skipped: subscription gone")
            return
        try:
            response = client.post(item.url, json=item.payload, headers=item.headers or None)
            status: int | str = response.status_code
            ok = 200 <= response.status_code < 300
        except httpx.HTTPError as exc:
            status, ok = f"error: {type(exc).__name__}", False
        with self._cond:
            if item.generation != self._generation:
                return
            self._record(item, status)
            if not ok and item.attempt < len(self.retry_delays):
                item.due = time.monotonic() + self.retry_delays[item.attempt]
                item.attempt += 1
                heapq.heappush(self._heap, item)
                self._cond.notify_all()
            elif not ok:
                log.warning("graphsim gave up delivering a %s notification after %d attempts",
                            item.kind, item.attempt + 1)

    def _record(self, item: Delivery, status: int | str) -> None:
        self.record(item.url, item.subscription_id, item.kind, status, item.attempt + 1)

    def record(self, url: str, subscription_id: str, kind: str, status: int | str, attempt: int = 1) -> None:
        """One line of the delivery log (also for what was never sent: an inactive partner topic)."""
        with self._cond:
            self._log.append({"url": url, "subscriptionId": subscription_id, "changeType": kind,
                              "status": status, "attempt": attempt, "at": datetime.now(UTC).isoformat()})
