"""Timer triggers: 6-field NCRONTAB schedules in UTC (the host's default without WEBSITE_TIME_ZONE)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from croniter import croniter

from .indexing import IndexedFunction, TimerFunction
from .invoke import FunctionTimeout, log_crash, timer_request

__all__ = ["TimerRunner"]

log = logging.getLogger("funchost")
Invoker = Callable[[IndexedFunction, Any], Awaitable[Any]]

# An occurrence that fires later than this is reported as past due.
_PAST_DUE_TOLERANCE_SECONDS = 1.0


class TimerRunner:
    def __init__(self, fn: TimerFunction, invoke: Invoker) -> None:
        self.fn = fn
        self._invoke = invoke
        # Like the host's singleton lock: a run never overlaps another run of the same timer,
        # whether it came from the schedule or from POST /admin/functions/{name}.
        self._running = asyncio.Lock()
        self._last: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def next_occurrence(self, after: datetime) -> datetime:
        it = croniter(self.fn.schedule, after, second_at_beginning=True)
        nxt: datetime = it.get_next(datetime)
        return nxt

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"timer:{self.fn.name}")
        self._task.add_done_callback(log_crash)

    async def _loop(self) -> None:
        if self.fn.run_on_startup:
            await self.run_once(past_due=False)
        while not self._stopping:
            due = self.next_occurrence(datetime.now(UTC))
            await asyncio.sleep(max((due - datetime.now(UTC)).total_seconds(), 0))
            late = (datetime.now(UTC) - due).total_seconds() > _PAST_DUE_TOLERANCE_SECONDS
            await self.run_once(past_due=late)

    async def run_once(self, *, past_due: bool = False) -> None:
        """Run now (waiting for a run in progress); failures are logged, as the host does."""
        async with self._running:
            now = datetime.now(UTC)
            try:
                next_due = self.next_occurrence(now)
                request = timer_request(past_due=past_due, last=self._last, next_due=next_due)
                await self._invoke(self.fn, request)  # logs Executing/Executed, as the host does
            except FunctionTimeout as exc:
                log.error("%s", exc)
            except Exception:
                log.exception("Function '%s' failed", self.fn.name)
            finally:
                self._last = now

    async def stop(self, grace_seconds: float) -> None:
        if self._task is None:
            return
        self._stopping = True
        # A sleeping timer stops at once; a run in progress gets the grace period to finish.
        if not self._running.locked():
            self._task.cancel()
        done, _ = await asyncio.wait({self._task}, timeout=grace_seconds)
        if not done:
            self._task.cancel()
            await asyncio.wait({self._task})
