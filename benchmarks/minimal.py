"""A minimal in-memory implementation of the connector's planning contract: the baseline of what plain Python
and asyncio do on this machine against the same Graph stand-in. No durable queue, no tables, no retries beyond
Retry-After: events are checked with the connector's own contract (``check_event``) and rendered with its own
``desired_state``; each task keeps only its newest state (a burst for one task costs one write), and at most 4
requests go to a mailbox at once, none before a mailbox's last Retry-After has passed. Graph is called with
aiohttp: with a hundred mailboxes at once httpx's connection pool, not Python, was the limit.

    python -m benchmarks.minimal --port 0   # settings in BENCH_GRAPH_ENDPOINT, BENCH_AUTH_ENDPOINT, BENCH_TENANT,
                                            # BENCH_CLIENT_ID, BENCH_CLIENT_SECRET, BENCH_CA_FILE

prints ``minimal ready <base_url>``. ``POST /api/planning/events`` (one event or a batch); ``GET /_bench/idle``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import ssl
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from shared.domain.planning.contract import check_event
from shared.domain.planning.model import PlanningEvent
from shared.domain.planning.render import desired_state
from shared.domain.tagging import SOURCE_KEY_PROPERTY
from shared.domain.timezones import resolve_time_zone

MAILBOX_CONCURRENCY = 4
ZONE = resolve_time_zone("Europe/Berlin")


@dataclass
class Gate:
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAILBOX_CONCURRENCY))
    not_before: float = 0.0


@dataclass
class Written:
    mailbox: str
    event_id: str


class Minimal:
    def __init__(self, graph: aiohttp.ClientSession, base: str) -> None:
        self.base = base
        self.graph = graph
        self.newest: dict[str, tuple[int, PlanningEvent]] = {}  # key -> (sequence, event) not yet written
        self.seen: dict[str, int] = {}
        self.running: set[str] = set()
        self.written: dict[str, Written] = {}
        self.gates: dict[str, Gate] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    async def ingest(self, request: web.Request) -> web.Response:
        document = json.loads(await request.read())
        batch = document if isinstance(document, list) else [document]
        checked = [check_event(raw, i, ZONE) for i, raw in enumerate(batch)]
        problems = [v.as_dict() for c in checked if isinstance(c, list) for v in c]
        if problems:
            return web.json_response({"title": "Invalid events", "errors": problems}, status=400)
        for event in checked:
            assert not isinstance(event, list)
            key, sequence = event.key.value, int(event.sequence or 0)
            if sequence <= self.seen.get(key, 0):
                continue
            self.seen[key] = sequence
            self.newest[key] = (sequence, event)
            if key not in self.running:
                self.running.add(key)
                task = asyncio.create_task(self._apply(key))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        return web.json_response({"accepted": len(batch)}, status=202)

    async def idle(self, request: web.Request) -> web.Response:
        return web.json_response({"pending": len(self.running)})

    async def _apply(self, key: str) -> None:
        try:
            while key in self.newest:
                _, event = self.newest.pop(key)
                await self._write(key, event)
        finally:
            self.running.discard(key)

    async def _write(self, key: str, event: PlanningEvent) -> None:
        desired = desired_state(event, ZONE)
        current = self.written.get(key)
        if current is not None and (desired is None or desired.mailbox != current.mailbox):
            await self._call(current.mailbox, "DELETE", f"/users/{current.mailbox}/events/{current.event_id}")
            del self.written[key]
            current = None
        if desired is None:
            return
        body = {**desired.content, "singleValueExtendedProperties": [{"id": SOURCE_KEY_PROPERTY, "value": key}]}
        if current is not None:
            await self._call(desired.mailbox, "PATCH", f"/users/{desired.mailbox}/events/{current.event_id}",
                             json=body)
            return
        transaction = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{key} {desired.mailbox}"))
        created = await self._call(desired.mailbox, "POST", f"/users/{desired.mailbox}/events",
                                   json={**body, "transactionId": transaction})
        self.written[key] = Written(desired.mailbox, str(created["id"]))

    async def _call(self, mailbox: str, method: str, url: str, **kwargs: Any) -> Any:
        gate = self.gates.setdefault(mailbox.lower(), Gate())
        while True:
            async with gate.slots:
                wait = gate.not_before - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                async with self.graph.request(method, self.base + url, **kwargs) as response:
                    status, retry = response.status, response.headers.get("retry-after", "1")
                    body = await response.read()
            if status != 429:
                if status >= 400:
                    raise RuntimeError(f"{method} {url}: {status} {body[:200]!r}")
                return json.loads(body) if body else None
            retry_after = float(retry)
            gate.not_before = max(gate.not_before, time.monotonic() + retry_after)


async def serve(port: int) -> None:
    env = os.environ
    verify = ssl.create_default_context(cafile=env["BENCH_CA_FILE"])
    connector = aiohttp.TCPConnector(ssl=verify, limit=400)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as graph:
        async with graph.post(f"{env['BENCH_AUTH_ENDPOINT']}/{env['BENCH_TENANT']}/oauth2/v2.0/token", data={
                "grant_type": "client_credentials", "client_id": env["BENCH_CLIENT_ID"],
                "client_secret": env["BENCH_CLIENT_SECRET"], "scope": "https://graph.microsoft.com/.default"}) as got:
            got.raise_for_status()
            graph.headers["Authorization"] = f"Bearer {(await got.json())['access_token']}"
        minimal = Minimal(graph, env["BENCH_GRAPH_ENDPOINT"])
        app = web.Application(client_max_size=2 * 1024 * 1024)
        app.router.add_post("/api/planning/events", minimal.ingest)
        app.router.add_get("/_bench/idle", minimal.idle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        print(f"minimal ready http://127.0.0.1:{bound}", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
