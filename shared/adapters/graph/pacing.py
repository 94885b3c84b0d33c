"""Pacing per mailbox: what the process knows about each mailbox's Graph limits, and when its next request may go.

Outlook limits an app per mailbox to 4 concurrent requests and a request budget per window (10,000 per
10 minutes today; Graph does not promise the numbers and counts refused requests too). The budget is learnt,
never configured, from the mailbox's own 429s.

Why this estimator rather than AIMD: AIMD (add a little on each 2xx, halve on a 429) oscillates between the
ceiling and half of it, about 75 % of the budget, and finds the ceiling again with a 429 every cycle. A 429 with
Retry-After says more: the mailbox took every request we sent since the last reopening (or since the busy period
began) but the refused one and those in flight beside it (refused as well: their answers are counted off as
they come), and it reopens after Retry-After. So the cycle from its start to the reopening, about the server's
window, holds exactly the budget the server granted while we kept it busy, whether it counts a sliding window,
fixed windows or a refilling bucket (a first cycle that began mid-window may overestimate; the next 429
measures again). A paced request answered 2xx raises the budget by ``PROBE`` per window's worth of requests, so
an underestimate heals and an overestimate costs one refusal and a new measurement. Before its first 429 a
mailbox is not paced at all: almost every mailbox never comes near its budget and pays nothing.

The pace is a mirror of that window, not an even spacing: a paced mailbox sends at most its budget in any
cycle, so after a reopening it sends again as fast as its 4 slots allow, as the server frees the requests of the
window before. An even spacing at the same average wastes the start of every window: 300 requests for a budget
of 100 per 10 s then take 30 s instead of just over 20, a window more. The first cycle's requests, sent before
there was a pace, are taken as spread evenly over it. A request that waits in the queue for its turn is promised
a free place of the window; the first request that comes when a promise falls due takes it.

After a throttling answer with Retry-After, the mailbox is closed until then for every request of the process;
a request whose turn (closure or pace) is further away than ``max_inline_wait`` is not put to sleep: it raises
``Throttled(retry_after=the wait)`` and the queue waits instead. State is per mailbox and touched by one event
loop without awaits in between (no lock); idle mailboxes are forgotten (least recently used first), so 10,000
mailboxes cost a few MB at most.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from shared.errors import Throttled

__all__ = ["IDLE_SECONDS", "MAX_INLINE_WAIT", "MAX_MAILBOXES", "PROBE", "MailboxPace", "MailboxPacer"]

# Waits up to 2 s happen in place: that covers Outlook's 1 s Retry-After for a concurrency breach and a few
# paced turns of a hot mailbox, and it is shorter than the queue's own round trip for a rescheduled message
# (a send, a complete and a scheduled delivery: at least half a second, more with backoff) would cost twice
# over. Longer waits go to the queue so a sleeping message holds neither its lock nor a worker's session
# slot, which other mailboxes' messages need.
MAX_INLINE_WAIT = 2.0
PROBE = 0.01  # a paced mailbox's budget grows 1 % per window's worth of 2xx answers
DEFAULT_THROTTLE_WAIT = 1.0  # a 429 without Retry-After closes the mailbox this long
BUSY_GAP = 1.0  # a mailbox with nothing sent, waiting or in flight for this long starts a new busy period
IDLE_SECONDS = 900.0  # forgotten after 15 idle minutes: longer than Outlook's 10-minute window
MAX_MAILBOXES = 10_000  # beyond this, idle mailboxes are forgotten least recently used first
MIN_CYCLE = 10  # requests a cycle must hold before its 429 sets the rate


@dataclass(slots=True, eq=False)
class MailboxPace:
    """One mailbox: its concurrency gate, its closure, its bucket and the current measuring cycle."""

    gate: asyncio.Semaphore
    closed_until: float = 0.0  # no request before this instant (a throttling answer's Retry-After)
    budget: float = 0.0  # requests the server takes per cycle, as last measured (probed upwards since); 0: unpaced
    learning: bool = False  # a measuring refusal closed it: the refusals of requests in flight beside it count too
    # Instants of the requests sent, reserved or promised within the last cycle, in order (while paced).
    slots: list[float] = field(default_factory=list)
    promised: list[float] = field(default_factory=list)  # the turns promised to requests sent to the queue
    cycle_start: float | None = None  # since when it has been busy (or since it last reopened)
    cycle_sent: int = 0  # requests sent since cycle_start
    cycle_length: float = 0.0  # the last measured cycle, about the server's window
    users: int = 0  # requests waiting or in flight
    last_used: float = field(default=0.0)

    @property
    def rate(self) -> float | None:
        """Requests per second it is paced to; None until it first throttles us."""
        return self.budget / self.cycle_length if self.budget else None


class MailboxPacer:
    """Per-mailbox pacing state for one event loop. ``clock`` and ``sleep`` are injectable (tests)."""

    def __init__(self, limit: int, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep, max_inline_wait: float = MAX_INLINE_WAIT,
                 idle_seconds: float = IDLE_SECONDS, max_mailboxes: int = MAX_MAILBOXES) -> None:
        self.limit = limit
        self.clock = clock
        self._sleep = sleep
        self.max_inline_wait = max_inline_wait
        self.idle_seconds = idle_seconds
        self.max_mailboxes = max_mailboxes
        self._paces: OrderedDict[str, MailboxPace] = OrderedDict()

    def __len__(self) -> int:
        return len(self._paces)

    def get(self, mailbox: str) -> MailboxPace | None:
        return self._paces.get(mailbox)

    async def enter(self, mailbox: str, label: object) -> tuple[MailboxPace, bool]:
        """Wait for the mailbox's turn (at most ``max_inline_wait``) and one of its concurrency slots.
        Returns the state (the caller must call ``leave``) and whether pacing held the request back.
        Raises Throttled (and holds nothing) when the turn is further away."""
        pace = self._paces.get(mailbox)
        if pace is None:
            pace = self._paces[mailbox] = MailboxPace(asyncio.Semaphore(self.limit))
        self._paces.move_to_end(mailbox)
        pace.users += 1
        try:
            paced = False
            while True:
                now = self.clock()
                turn = max(now, pace.closed_until)
                promised = False
                if pace.rate is not None:
                    promised = turn == now and self._take_promise(pace, now)
                    paced = paced or promised  # it waited in the queue for this place
                    if not promised:
                        turn = max(turn, self._free_slot(pace, now))
                wait = turn - now
                if wait > self.max_inline_wait:
                    if pace.rate is not None:  # behind those already sent to the queue: they come back spread out
                        turn = self._free_slot(pace, now, after=turn)
                        bisect.insort(pace.slots, turn)
                        bisect.insort(pace.promised, turn)
                        wait = turn - now
                    # Held back before it was sent: it created nothing, so its copy need not look for what it made.
                    raise Throttled(f"Graph throttles mailbox bucket {label}: its turn is {wait:.1f} s away",
                                    retry_after=wait, refused=True)
                if pace.rate is not None and not promised:
                    bisect.insort(pace.slots, turn)  # reserved before sleeping: each waiter sleeps once
                    paced = paced or wait > 0
                if wait > 0:
                    await self._sleep(wait)
                    if self.clock() < pace.closed_until:
                        continue  # a throttling answer closed it while we slept
                await pace.gate.acquire()
                now = self.clock()
                if now < pace.closed_until:  # closed while we waited for a slot
                    pace.gate.release()
                    continue
                if pace.cycle_start is None or (pace.users == 1 and now - pace.last_used > BUSY_GAP):
                    pace.cycle_start, pace.cycle_sent = now, 0  # a new busy period
                pace.cycle_sent += 1
                pace.last_used = now
                return pace, paced
        except BaseException:
            pace.users -= 1
            raise

    def leave(self, mailbox: str, pace: MailboxPace, status: int | None, retry_after: float | None,
              paced: bool) -> None:
        """The request's answer is in (``status`` None: it failed without one): learn from it, free its slot."""
        now = self.clock()
        pace.gate.release()
        pace.users -= 1
        pace.last_used = now
        if status == 429 or (status in (503, 504) and retry_after is not None):
            self._throttled(pace, now, status == 429, retry_after)
        elif status is not None and 200 <= status < 300 and paced and pace.rate is not None:
            pace.budget *= 1.0 + PROBE / max(1.0, pace.budget)
        self._evict(now)

    def _throttled(self, pace: MailboxPace, now: float, learn: bool, retry_after: float | None) -> None:
        reopen = now + (DEFAULT_THROTTLE_WAIT if retry_after is None else retry_after)
        if learn and now < pace.closed_until and pace.learning:
            # Refused beside the measuring refusal: it was counted among the cycle's requests the server took.
            pace.budget = max(1.0, pace.budget - 1)
        elif learn and now >= pace.closed_until and pace.cycle_start is not None and pace.cycle_sent >= MIN_CYCLE:
            if pace.rate is None:  # the first cycle was not recorded: take its requests as spread evenly over it
                step = (now - pace.cycle_start) / pace.cycle_sent
                pace.slots = [pace.cycle_start + i * step for i in range(pace.cycle_sent)]
            # The first refusal of an episode, after enough requests to measure (a 429 after a few says little
            # about the budget): the server took every request of the cycle but this one and those in flight
            # beside it, which are refused as well and are taken off as their answers come in.
            pace.cycle_length = max(reopen - pace.cycle_start, 1e-3)
            pace.budget = float(pace.cycle_sent - 1)
            pace.cycle_start, pace.cycle_sent = reopen, 0
            pace.learning = True
        else:
            pace.learning = pace.learning and now < pace.closed_until
        pace.closed_until = max(pace.closed_until, reopen)

    @staticmethod
    def _free_slot(pace: MailboxPace, now: float, after: float = 0.0) -> float:
        """The earliest instant from ``after`` at which the mailbox has a free place in its window: fewer than
        rate × cycle requests sent, reserved or promised since a cycle before it (later reservations count too)."""
        assert pace.rate is not None
        window = pace.cycle_length
        allowed = max(1, int(pace.budget))
        slots = pace.slots
        del slots[:bisect.bisect_right(slots, now - window)]
        del pace.promised[:bisect.bisect_right(pace.promised, now - window)]
        free = max(now, after)
        if len(slots) - bisect.bisect_right(slots, free - window) < allowed:
            return free
        return slots[len(slots) - allowed] + window  # when the allowed-th newest ages out

    @staticmethod
    def _take_promise(pace: MailboxPace, now: float) -> bool:
        """A request arriving when a promise to a queued one has fallen due takes it (its place is reserved)."""
        due = bisect.bisect_right(pace.promised, now)
        if due == 0:
            return False
        del pace.promised[due - 1]
        return True

    def _evict(self, now: float) -> None:
        """Forget idle mailboxes, least recently used first; stop at the first one still in use."""
        paces = self._paces
        while paces:
            mailbox, pace = next(iter(paces.items()))
            idle = pace.users == 0 and now >= pace.closed_until
            if not idle or (now - pace.last_used < self.idle_seconds and len(paces) <= self.max_mailboxes):
                return
            del paces[mailbox]
