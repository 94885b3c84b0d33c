"""The per-mailbox gate and pace under every Graph request, on a fake transport and an injected clock: nothing
here depends on how fast the machine is."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Callable

import httpx
import pytest

from shared.adapters.graph.pacing import MAX_INLINE_WAIT, MailboxPacer
from shared.adapters.graph.session import MailboxConcurrencyLimiter, mailbox_of_url
from shared.errors import Throttled


class FakeClock:
    """Time moves only when the test says; ``sleep`` returns once the clock has reached its deadline."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(seconds, 0.0), next(self._order), future))
        await future

    async def settle(self) -> None:
        for _ in range(50):
            await asyncio.sleep(0)

    async def advance_to(self, when: float) -> None:
        """Move to ``when``, waking each sleeper at its own deadline, in order."""
        await self.settle()
        while self._sleepers and self._sleepers[0][0] <= when:
            deadline, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, deadline)
            if not future.done():  # a cancelled sleeper
                future.set_result(None)
            await self.settle()
        self.now = max(self.now, when)
        await self.settle()


Answer = Callable[[str, float], httpx.Response]


class FakeGraph(httpx.AsyncBaseTransport):
    """Answers after ``latency`` of the fake clock with what ``answer(mailbox, now)`` says; records arrivals."""

    def __init__(self, clock: FakeClock, answer: Answer, latency: float = 0.0) -> None:
        self.clock = clock
        self.answer = answer
        self.latency = latency
        self.arrivals: list[tuple[str, float, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        mailbox = mailbox_of_url(request.url) or ""
        response = self.answer(mailbox, self.clock())
        self.arrivals.append((mailbox, self.clock(), response.status_code))
        if self.latency:
            await self.clock.sleep(self.latency)
        return response


def reply(status: int, retry_after: str | None = None) -> httpx.Response:
    """An answer as a transport gives it: a stream not yet read."""
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(status, headers=headers, stream=httpx.ByteStream(b'{"value": []}'))


def ok(mailbox: str, now: float) -> httpx.Response:
    return reply(200)


def url(mailbox: str) -> str:
    return f"https://graph.microsoft.com/v1.0/users/{mailbox}/events"


def limiter_on(graph: FakeGraph, clock: FakeClock, **kwargs: float) -> MailboxConcurrencyLimiter:
    return MailboxConcurrencyLimiter(graph, pacer=MailboxPacer(4, clock=clock, sleep=clock.sleep, **kwargs))


class SlidingWindowBudget:
    """Outlook's budget as the stand-in counts it: at most ``budget`` requests (refused ones too) in any
    ``window`` seconds; a refusal's Retry-After is when the oldest that matters ages out, rounded up."""

    def __init__(self, budget: int, window: float) -> None:
        self.budget, self.window = budget, window
        self.hits: deque[float] = deque()
        self.accepted = 0
        self.refused = 0

    def __call__(self, mailbox: str, now: float) -> httpx.Response:
        while self.hits and self.hits[0] <= now - self.window:
            self.hits.popleft()
        self.hits.append(now)
        if len(self.hits) <= self.budget:
            self.accepted += 1
            return reply(201)
        self.refused += 1
        wait = self.hits[-self.budget] + self.window - now
        return reply(429, str(max(1, int(-(-wait // 1)))))


class TestTheGateAfterA429:
    async def test_no_request_reaches_the_mailbox_before_retry_after_and_others_go_on(self) -> None:
        clock = FakeClock()
        refuse_once = iter([reply(429, "3")])
        graph = FakeGraph(clock, lambda m, now: next(refuse_once, None) or ok(m, now) if m == "hot@x" else ok(m, now))
        limiter = limiter_on(graph, clock)
        async with httpx.AsyncClient(transport=limiter) as worker, httpx.AsyncClient(transport=limiter) as other:
            assert (await worker.get(url("hot@x"))).status_code == 429
            await clock.advance_to(0.05)
            with pytest.raises(Throttled) as early:  # 2.95 s away: beyond the bound, the queue waits
                await other.get(url("hot@x"))
            assert early.value.retry_after == pytest.approx(2.95)
            assert early.value.refused  # never sent: its copy has nothing to look for before creating
            assert (await other.get(url("cool@x"))).status_code == 200  # the same instant, another mailbox
            await clock.advance_to(1.5)
            waiting = [asyncio.ensure_future(c.get(url("hot@x"))) for c in (worker, other) for _ in range(5)]
            await clock.advance_to(2.999)
            assert not any(w.done() for w in waiting)
            await clock.advance_to(3.0)
            answers = await asyncio.gather(*waiting)
        assert all(a.status_code == 200 for a in answers)
        hot = [when for mailbox, when, _ in graph.arrivals if mailbox == "hot@x"]
        assert hot[0] == 0.0 and min(hot[1:]) >= 3.0 and len(hot) == 11
        assert [when for mailbox, when, _ in graph.arrivals if mailbox == "cool@x"] == [0.05]

    async def test_requests_waiting_for_a_slot_when_the_mailbox_closes_do_not_go(self) -> None:
        clock = FakeClock()
        answers = iter([reply(429, "30")])
        graph = FakeGraph(clock, lambda m, now: next(answers, None) or ok(m, now), latency=0.1)
        limiter = limiter_on(graph, clock)
        async with httpx.AsyncClient(transport=limiter) as client:
            calls = [asyncio.ensure_future(client.get(url("hot@x"))) for _ in range(10)]
            await clock.advance_to(1.0)
            results = await asyncio.gather(*calls, return_exceptions=True)
        # The first four were in flight when the 429 came; the other six never reached the mailbox.
        assert len(graph.arrivals) == 4
        throttled = [r for r in results if isinstance(r, Throttled)]
        assert len(throttled) == 6 and all(t.retry_after and t.retry_after > 29 for t in throttled)

    async def test_brief_retries_and_the_gate_share_one_bound(self) -> None:
        from shared.adapters.graph.session import BriefRetryHandler

        assert BriefRetryHandler().max_inline_wait == MAX_INLINE_WAIT


async def keep_busy(client: httpx.AsyncClient, clock: FakeClock, until: float, workers: int = 16) -> int:
    """``workers`` messages for one hot mailbox, each sent again as soon as it may (a Throttled raised in
    place waits its retry_after, as the queue would), until ``until`` on the clock; returns how often the
    limiter sent one to the queue."""
    to_queue = 0

    async def worker() -> None:
        nonlocal to_queue
        while True:
            try:
                response = await client.get(url("hot@x"))
            except Throttled as exc:
                to_queue += 1
                await clock.sleep(exc.retry_after or 0.5)
                continue
            if response.status_code == 429:
                await clock.sleep(float(response.headers["retry-after"]))

    running = [asyncio.ensure_future(worker()) for _ in range(workers)]
    await clock.advance_to(until)
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
    return to_queue


class TestThePace:
    async def test_a_hot_mailbox_learns_its_budget_and_uses_it_with_few_refusals(self) -> None:
        clock = FakeClock()
        budget = SlidingWindowBudget(budget=100, window=10.0)
        graph = FakeGraph(clock, budget, latency=0.1)
        limiter = limiter_on(graph, clock)
        async with httpx.AsyncClient(transport=limiter) as client:
            await keep_busy(client, clock, 120.0)
        pace = limiter.pacer.get("hot@x")
        assert pace is not None and pace.rate is not None
        assert 9.0 <= pace.rate <= 10.2  # learnt: about budget / window
        share = budget.accepted / (budget.budget * 120.0 / budget.window)
        assert share >= 0.95
        assert budget.refused <= 10  # the requests in flight at each of a few learning episodes

    async def test_a_backlog_of_three_budgets_fits_in_three_windows(self) -> None:
        # 300 tasks for a budget of 100 per 10 s: each window's budget goes out as soon as the window frees, so the
        # last request leaves before the third window ends (an even spacing at the learnt rate takes a fourth).
        clock = FakeClock()
        budget = SlidingWindowBudget(budget=100, window=10.0)
        graph = FakeGraph(clock, budget, latency=0.1)
        limiter = limiter_on(graph, clock)
        tasks = list(range(300))

        async def worker(client: httpx.AsyncClient) -> None:
            while tasks:
                task = tasks.pop()
                try:
                    response = await client.get(url("hot@x"))
                except Throttled as exc:
                    tasks.append(task)
                    await clock.sleep(exc.retry_after or 0.5)
                    continue
                if response.status_code == 429:
                    tasks.append(task)
                    await clock.sleep(float(response.headers["retry-after"]))

        async with httpx.AsyncClient(transport=limiter) as client:
            running = [asyncio.ensure_future(worker(client)) for _ in range(16)]
            await clock.advance_to(60.0)
            await asyncio.gather(*running)
        accepted = [when for _, when, status in graph.arrivals if status < 300]
        assert len(accepted) == 300 and max(accepted) - min(accepted) < 30.0
        assert budget.refused <= 8

    async def test_the_rate_falls_when_the_budget_shrinks_and_climbs_while_paced_requests_succeed(self) -> None:
        clock = FakeClock()
        budget = SlidingWindowBudget(budget=100, window=10.0)
        limiter = limiter_on(FakeGraph(clock, budget, latency=0.1), clock)
        async with httpx.AsyncClient(transport=limiter) as client:
            await keep_busy(client, clock, 60.0)
            pace = limiter.pacer.get("hot@x")
            assert pace is not None and pace.rate is not None
            learnt = pace.rate
            budget.budget = 50
            await keep_busy(client, clock, 120.0)
            assert pace.rate < 0.55 * learnt
            lowered = pace.rate
            budget.budget = 1000
            await keep_busy(client, clock, 180.0)
        assert pace.rate > lowered * 1.02


class TestMemory:
    async def test_idle_mailboxes_are_forgotten(self) -> None:
        clock = FakeClock()
        graph = FakeGraph(clock, ok)
        limiter = limiter_on(graph, clock, idle_seconds=60.0, max_mailboxes=50)
        async with httpx.AsyncClient(transport=limiter) as client:
            for i in range(200):
                await client.get(url(f"m{i}@x"))
            assert len(limiter.pacer) <= 51  # the least recently used go first beyond the cap
            await clock.advance_to(61.0)
            await client.get(url("last@x"))
        assert len(limiter.pacer) == 1 and limiter.pacer.get("last@x") is not None

    async def test_a_closed_or_busy_mailbox_is_kept(self) -> None:
        clock = FakeClock()
        graph = FakeGraph(clock, lambda m, now: reply(429, "600"))
        limiter = limiter_on(graph, clock, idle_seconds=10.0)
        async with httpx.AsyncClient(transport=limiter) as client:
            await client.get(url("shut@x"))
            await clock.advance_to(100.0)
            graph.answer = ok
            await client.get(url("open@x"))
        assert limiter.pacer.get("shut@x") is not None
