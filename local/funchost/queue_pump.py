"""Feeds Service Bus queue triggers from the local queue store, with the extension's semantics.

autoCompleteMessages (success completes, an exception or a ``functionTimeout`` abandons, so the
broker redelivers and dead-letters at the maximum delivery count), lock renewal while the function
runs for at most ``maxAutoLockRenewalDuration``, and up to ``maxConcurrentSessions`` sessions at
once with one message at a time per session. As the host's session processor does, a session receiver
keeps its session until no message of it arrived for ``sessionIdleTimeout``, and only then takes another:
a session slot waiting for a message due later (a scheduled copy) is a slot no other session gets.

When renewal stops before the function ends, the lock expires and the message (with its session)
is delivered again, with its delivery count raised, even while the first invocation still runs:
that is what Service Bus does, so work longer than the renewal shows up locally too.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from local.funchost.queue_store import LocalQueueStore, LockLostError, ReceivedMessage

from .indexing import IndexedFunction, QueueFunction
from .invoke import FunctionTimeout, log_crash, service_bus_message

__all__ = ["QueuePump"]

log = logging.getLogger("funchost")
T = TypeVar("T")
Invoker = Callable[[IndexedFunction, Any], Awaitable[Any]]

_IDLE_MIN, _IDLE_MAX = 0.05, 0.5


class QueuePump:
    def __init__(
        self,
        fn: QueueFunction,
        store: LocalQueueStore,
        invoke: Invoker,
        executor: Executor,
        *,
        max_concurrency: int,
        max_lock_renewal_seconds: float = 300,
        session_idle_seconds: float = 60,
    ) -> None:
        self.fn = fn
        self._store = store
        self._invoke = invoke
        self._executor = executor
        self._max = max_concurrency
        self._max_renewal = max_lock_renewal_seconds
        self._session_idle = session_idle_seconds
        # Sessions a receiver of this pump holds (its session lock), by the receiver holding it.
        self._held: dict[str, object] = {}
        self._inflight: dict[asyncio.Task[None], ReceivedMessage] = {}
        self._calls: set[asyncio.Task[Any]] = set()
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"pump:{self.fn.name}")
        self._task.add_done_callback(log_crash)

    async def _db(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # SQLite calls go to a small dedicated pool: a busy file must not block the event loop,
        # and user functions running in threads must not starve the pump.
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(call, *args, **kwargs))

    async def run(self) -> None:
        idle = _IDLE_MIN
        while not self._stopping.is_set():
            if len(self._inflight) >= self._max:
                await self._pause(None)
                continue
            try:
                # No session in flight here is excluded: the store holds a session back while its
                # lock is live, and once that expired Service Bus gives the session out again.
                received = await self._db(self._store.receive, self.fn.queue_name,
                                          exclude_sessions=tuple(self._held))
            except Exception:
                log.exception("Receiving from queue '%s' failed", self.fn.queue_name)
                received = None
            if received is None:
                # Cheap idle polling with backoff; a finished message wakes us at once, so the
                # next message of its session does not wait for the backoff.
                await self._pause(idle)
                idle = min(idle * 2, _IDLE_MAX)
                continue
            idle = _IDLE_MIN
            if self.fn.sessions and received.session_id is not None:
                owner = self._held[received.session_id] = object()
                task = asyncio.create_task(self._hold(received, owner))
            else:
                task = asyncio.create_task(self._process(received))
            self._inflight[task] = received
            task.add_done_callback(self._finished)

    async def _pause(self, timeout: float | None) -> None:
        waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(self._stopping.wait())]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        self._wake.clear()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.pop(task, None)
        self._wake.set()

    async def _hold(self, received: ReceivedMessage | None, owner: object) -> None:
        """A session receiver: process the session's messages one at a time; give the session up once none
        arrived for the idle timeout (or the host stops). When lock renewal ended during a message, the session
        lock lapsed with it and Service Bus may give the session to another receiver: this one then lets go."""
        assert received is not None and received.session_id is not None
        session = received.session_id
        try:
            while received is not None:
                following, looked = await self._process(received, lambda: self._lapse(session, owner), session)
                if self._held.get(session) is not owner:
                    return
                received = following or await self._next_of(session, polled=looked)
        finally:
            self._lapse(session, owner)

    def _lapse(self, session: str, owner: object) -> None:
        if self._held.get(session) is owner:
            del self._held[session]

    async def _next_of(self, session: str, *, polled: bool = False) -> ReceivedMessage | None:
        """Wait up to the idle timeout for the session's next message, holding the session as the host does. The
        file is asked when this process sent to the session, every ``_IDLE_MAX`` (a message sent by another
        process, a scheduled one come due, an abandoned one) and once more at the end: not every few
        milliseconds, which would cost the local host far more than Service Bus's own wait costs the host.
        ``polled``: the session was looked at just now."""
        deadline = time.monotonic() + self._session_idle
        queue = self.fn.queue_name
        seen = self._store.sends_to(queue, session)
        looked = time.monotonic() if polled else float("-inf")
        while not self._stopping.is_set():
            now = time.monotonic()
            sent = self._store.sends_to(queue, session)
            if sent != seen or now - looked >= _IDLE_MAX or now >= deadline:
                seen, looked = sent, now
                try:
                    received = await self._db(self._store.receive, queue, session_id=session)
                except Exception:
                    log.exception("Receiving from session '%s' of queue '%s' failed", session, queue)
                    received = None
                if received is not None:
                    return received
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), min(_IDLE_MIN, remaining))
        return None

    async def _process(self, received: ReceivedMessage, lapsed: Callable[[], None] = lambda: None,
                       session: str | None = None) -> tuple[ReceivedMessage | None, bool]:
        """Invoke the function on the message and settle it; for a session receiver (``session``), also take the
        session's next message when one is due, and say whether the session was looked at."""
        started = time.monotonic()
        renewer = asyncio.create_task(self._renew(received.lock_token, lapsed))
        call = asyncio.create_task(self._invoke(self.fn, service_bus_message(received)))
        self._calls.add(call)
        outcome, error = "Succeeded", ""
        try:
            await call
        except asyncio.CancelledError:
            outcome, error = "Cancelled", "The host shut down while the function ran."
        except FunctionTimeout as exc:
            outcome, error = "Timeout", str(exc)
            log.error("%s (message %s)", exc, received.message_id)
        except Exception as exc:
            outcome, error = "Failed", f"{type(exc).__name__}: {exc}"[:1024]
            log.exception("Function '%s' failed on message %s", self.fn.name, received.message_id)
        finally:
            self._calls.discard(call)
            renewer.cancel()
        following, looked = None, False
        try:
            if outcome == "Succeeded" and session is not None and not self._stopping.is_set():
                following = await self._db(self._store.complete_and_receive, received.lock_token,
                                           self.fn.queue_name, session)
                looked = True
            elif outcome == "Succeeded":
                await self._db(self._store.complete, received.lock_token)
            else:
                await self._db(self._store.abandon, received.lock_token, error)
        except LockLostError:
            outcome += ", lock lost"
        except Exception:
            # The lock will expire and the message come back: nothing is lost, but say why.
            log.exception("Settling message %s failed", received.message_id)
            outcome += ", not settled"
        # The invocation's own lines say how the function went; this one matters when settling did not go as usual.
        log.log(
            logging.DEBUG if outcome == "Succeeded" else logging.INFO,
            "Message for '%s' settled (%s, %d ms) message_id=%s session_id=%s delivery_count=%d",
            self.fn.name,
            outcome,
            (time.monotonic() - started) * 1000,
            received.message_id,
            received.session_id,
            received.delivery_count,
        )
        return following, looked

    async def _renew(self, lock_token: str, lapsed: Callable[[], None]) -> None:
        # Renew at a third of the lock duration, up to maxAutoLockRenewalDuration; then the lock lapses.
        deadline = time.monotonic() + self._max_renewal
        interval = max(self._store.lock_seconds / 3, 0.05)
        while time.monotonic() + interval < deadline:
            await asyncio.sleep(interval)
            try:
                await self._db(self._store.renew_lock, lock_token)
            except LockLostError:
                log.warning("Lock lost on a message of queue '%s'", self.fn.queue_name)
                lapsed()
                return
        lapsed()  # renewal ends here: the session's lock lapses with the message's

    async def stop(self, grace_seconds: float) -> None:
        """Stop receiving; let in-flight messages finish within the grace, then abandon them."""
        self._stopping.set()
        if self._task is not None:
            await self._task
        pending = set(self._inflight)
        if pending:
            _, pending = await asyncio.wait(pending, timeout=grace_seconds)
        for call in list(self._calls):
            call.cancel()
        if pending:
            await asyncio.wait(pending)
