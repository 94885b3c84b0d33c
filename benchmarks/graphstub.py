"""A small, fast HTTPS stand-in for the part of Microsoft Graph and Entra ID the planning path calls, with
Outlook-like limits, for the benchmark (not local/graphsim: the simulator's own cost must not limit the figures).

Per mailbox (the path's ``/users/{id}`` segment, case-insensitive):

* every answer takes ``latency_ms`` (default 100 ms);
* at most ``concurrency`` (4) requests at once; another gets 429 ApplicationThrottled ("MailboxConcurrency"),
  Retry-After 1;
* at most ``budget`` requests in any ``window`` seconds (sliding, like Outlook's 10,000 per 10 minutes scaled
  down); every request counts, refused ones too (Graph keeps counting while it throttles), and one over the
  budget gets 429 with Retry-After = whole seconds until the window frees a slot.

Routes: ``POST /{tenant}/oauth2/v2.0/token`` (client credentials, the one configured app); under ``/v1.0``:
``GET|POST /users/{m}/events`` (list by the source-key extended property filter, ``$top``; create, honouring
``transactionId``: a repeat returns the first event), ``GET|PATCH|DELETE /users/{m}/events/{id}``. Anything else
is a Graph-shaped 400 and is counted as ``unsupported``, except the empty lists the connector's timers ask for
(``GET /subscriptions``, ``GET /users/delta()``).

Control (plain JSON, no auth, loopback only): ``GET /_bench/stats`` (per mailbox: requests, accepted, throttled
by cause, first/last request time; tokens; unsupported), ``GET /_bench/writes`` (each create/patch/delete that
changed a calendar: mailbox, key, method, wall-clock time), ``GET /_bench/events`` (every calendar's events:
key, start), ``POST /_bench/reset`` (counts, windows, writes and calendars), ``PUT /_bench/limits``.

    python -m benchmarks.graphstub --state-dir DIR --client-id C --client-secret S [--port 0]

prints ``graphstub ready <base_url> ca=<ca.pem>`` once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hmac
import json
import math
import os
import re
import secrets
import ssl
import subprocess
import sys
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from local.graphsim.tls import create_tls
from local.processes import stop_process
from shared.domain.tagging import SOURCE_KEY_PROPERTY

GRAPH_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
EVENTS = re.compile(r"^/v1\.0/users/([^/]+)/events(?:/([^/]+))?$")
ROOT = Path(__file__).resolve().parent.parent
QUIET = {"/v1.0/subscriptions": False, "/v1.0/users/delta()": True}  # path -> answered with a delta link
KEY_FILTER = re.compile(r"ep/value eq '((?:[^']|'')*)'")


@dataclass
class Limits:
    latency_ms: float = 100.0
    concurrency: int = 4
    budget: int = 100
    window: float = 10.0


@dataclass
class Mailbox:
    hits: deque[float] = field(default_factory=deque)
    in_flight: int = 0
    peak: int = 0
    requests: int = 0
    accepted: int = 0
    throttled_concurrency: int = 0
    throttled_budget: int = 0
    first: float | None = None
    last: float | None = None
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    transactions: dict[str, str] = field(default_factory=dict)


class Stub:
    def __init__(self, client_id: str, client_secret: str, limits: Limits) -> None:
        self.client_id, self.client_secret, self.limits = client_id, client_secret, limits
        self.token = _opaque_token()
        self.mailboxes: dict[str, Mailbox] = {}
        self.writes: list[dict[str, Any]] = []
        self.tokens = 0
        self.unsupported: list[str] = []

    # -- Entra ------------------------------------------------------------------------------

    async def token_endpoint(self, request: web.Request) -> web.Response:
        self.tokens += 1
        form = await request.post()
        secret = str(form.get("client_secret", ""))
        if form.get("grant_type") != "client_credentials" or form.get("client_id") != self.client_id \
                or not hmac.compare_digest(secret.encode(), self.client_secret.encode()):
            return web.json_response({"error": "invalid_client", "error_description":
                                      "AADSTS7000215: Invalid client secret provided."}, status=401)
        return web.json_response({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                                  "access_token": self.token})

    # -- Graph ------------------------------------------------------------------------------

    async def graph(self, request: web.Request) -> web.Response:
        match = EVENTS.match(request.path)
        if request.method == "GET" and request.path in QUIET:
            # The connector's timers (rooms' subscription renewal, the users directory) ask these: nothing to list.
            link = {"@odata.deltaLink": f"https://{request.host}{request.path}?$deltatoken=bench"} \
                if QUIET[request.path] else {}
            return _json(200, {"value": [], **link})
        if match is None:
            self.unsupported.append(f"{request.method} {request.path}")
            return _error(400, "BadRequest", "Resource not found for the segment.")
        bearer = request.headers.get("authorization", "")
        if not hmac.compare_digest(bearer.encode(), f"Bearer {self.token}".encode()):
            return _error(401, "InvalidAuthenticationToken", "Access token is empty or invalid.")
        name, event_id = match.group(1).lower(), match.group(2)
        box = self.mailboxes.setdefault(name, Mailbox())
        now = time.time()
        box.requests += 1
        box.first = box.first if box.first is not None else now
        box.last = now
        hits, limits = box.hits, self.limits
        while hits and hits[0] <= now - limits.window:
            hits.popleft()
        hits.append(now)
        box.peak = max(box.peak, box.in_flight + 1)
        if box.in_flight >= limits.concurrency:
            box.throttled_concurrency += 1
            return _error(429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.",
                          {"Retry-After": "1"})
        if len(hits) > limits.budget:
            box.throttled_budget += 1
            wait = hits[-limits.budget] + limits.window - now if limits.budget > 0 else limits.window
            return _error(429, "ApplicationThrottled", "Application is over its MailboxRequests limit.",
                          {"Retry-After": str(max(1, math.ceil(wait)))})
        box.in_flight += 1
        try:
            body = await request.read()
            await asyncio.sleep(limits.latency_ms / 1000)
            response = self._events(request, name, box, event_id, json.loads(body) if body else None)
        finally:
            box.in_flight -= 1
        box.accepted += 1
        return response

    def _events(self, request: web.Request, name: str, box: Mailbox, event_id: str | None,
                body: Any) -> web.Response:
        method = request.method
        if event_id is None and method == "GET":
            match = KEY_FILTER.search(request.query.get("$filter", ""))
            if match is None:
                return _error(400, "BadRequest", "this stand-in lists events by the source-key filter only")
            key = match.group(1).replace("''", "'")
            top = int(request.query.get("$top", "10"))
            found = [{"id": e["id"]} for e in box.events.values() if e["key"] == key][:top]
            return _json(200, {"value": found})
        if event_id is None and method == "POST":
            transaction = body.get("transactionId")
            if transaction and transaction in box.transactions and box.transactions[transaction] in box.events:
                return _json(201, _public(box.events[box.transactions[transaction]]))
            event = {"id": base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="),
                     "iCalUId": uuid.uuid4().hex, "key": _key_of(body), "start": (body.get("start") or {}),
                     "subject": body.get("subject"), "transactionId": transaction}
            box.events[event["id"]] = event
            if transaction:
                box.transactions[transaction] = event["id"]
            self._wrote(name, event, "POST")
            return _json(201, _public(event))
        if event_id is None:
            return _error(405, "BadRequest", "method not allowed")
        if event_id not in box.events:
            return _error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        event = box.events[event_id]
        if method == "GET":
            return _json(200, _public(event))
        if method == "PATCH":
            event["start"] = body.get("start") or event["start"]
            event["subject"] = body.get("subject", event["subject"])
            event["key"] = _key_of(body) or event["key"]
            self._wrote(name, event, "PATCH")
            return _json(200, _public(event))
        if method == "DELETE":
            del box.events[event_id]
            self._wrote(name, event, "DELETE")
            return web.Response(status=204)
        return _error(405, "BadRequest", "method not allowed")

    def _wrote(self, mailbox: str, event: dict[str, Any], method: str) -> None:
        self.writes.append({"mailbox": mailbox, "key": event["key"], "method": method, "at": time.time(),
                            "start": event["start"].get("dateTime")})

    # -- control ----------------------------------------------------------------------------

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({
            "limits": vars(self.limits), "tokens": self.tokens, "unsupported": self.unsupported,
            "mailboxes": {name: {"requests": b.requests, "accepted": b.accepted,
                                 "throttled": b.throttled_concurrency + b.throttled_budget,
                                 "throttledConcurrency": b.throttled_concurrency,
                                 "throttledBudget": b.throttled_budget, "peak": b.peak,
                                 "first": b.first, "last": b.last} for name, b in self.mailboxes.items()}})

    async def list_writes(self, request: web.Request) -> web.Response:
        return web.json_response({"value": self.writes})

    async def list_events(self, request: web.Request) -> web.Response:
        return web.json_response({name: [{"key": e["key"], "start": e["start"].get("dateTime")}
                                         for e in b.events.values()] for name, b in self.mailboxes.items()})

    async def reset(self, request: web.Request) -> web.Response:
        self.mailboxes = {name: Mailbox(in_flight=b.in_flight) for name, b in self.mailboxes.items() if b.in_flight}
        self.writes, self.tokens, self.unsupported = [], 0, []
        return web.json_response({})

    async def set_limits(self, request: web.Request) -> web.Response:
        for name, value in (await request.json()).items():
            setattr(self.limits, name, type(getattr(self.limits, name))(value))
        return web.json_response(vars(self.limits))

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_get("/_bench/stats", self.stats)
        app.router.add_get("/_bench/writes", self.list_writes)
        app.router.add_get("/_bench/events", self.list_events)
        app.router.add_post("/_bench/reset", self.reset)
        app.router.add_put("/_bench/limits", self.set_limits)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self.token_endpoint)
        app.router.add_route("*", "/v1.0/{path:.*}", self.graph)
        return app


def _opaque_token() -> str:
    """JWT-shaped, as Entra's access tokens are; clients must not read it."""
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
    return f"{part({'typ': 'JWT', 'alg': 'RS256'})}.{part({'aud': 'https://graph.microsoft.com'})}." \
           f"{secrets.token_urlsafe(32)}"


def _key_of(body: dict[str, Any]) -> str | None:
    for prop in body.get("singleValueExtendedProperties") or []:
        if prop.get("id", "").lower() == SOURCE_KEY_PROPERTY.lower():
            return str(prop.get("value"))
    return None


def _public(event: dict[str, Any]) -> dict[str, Any]:
    return {"id": event["id"], "iCalUId": event["iCalUId"], "subject": event["subject"], "start": event["start"],
            "transactionId": event["transactionId"]}


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), headers={"Content-Type": GRAPH_JSON, **(headers or {})})


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return _json(status, {"error": {"code": code, "message": message, "innerError": {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), "request-id": str(uuid.uuid4())}}}, headers)


@dataclass
class RunningStub:
    """The stand-in in a process of its own (its cost stays off the connector's cores' accounting)."""

    process: subprocess.Popen[str]
    base_url: str
    ca_path: Path
    tenant: str
    client_id: str
    client_secret: str

    @property
    def graph_endpoint(self) -> str:
        return f"{self.base_url}/v1.0"

    @property
    def auth_endpoint(self) -> str:
        return self.base_url

    def control(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, verify=ssl.create_default_context(cafile=str(self.ca_path)),
                            timeout=60)

    def stats(self) -> dict[str, Any]:
        with self.control() as client:
            return dict(client.get("/_bench/stats").raise_for_status().json())

    def writes(self) -> list[dict[str, Any]]:
        with self.control() as client:
            return list(client.get("/_bench/writes").raise_for_status().json()["value"])

    def events(self) -> dict[str, list[dict[str, Any]]]:
        with self.control() as client:
            return dict(client.get("/_bench/events").raise_for_status().json())

    def reset(self, **limits: float) -> None:
        with self.control() as client:
            client.post("/_bench/reset").raise_for_status()
            if limits:
                client.put("/_bench/limits", json=limits).raise_for_status()

    def access_token(self) -> str:
        with self.control() as client:
            response = client.post(f"/{self.tenant}/oauth2/v2.0/token", data={
                "grant_type": "client_credentials", "client_id": self.client_id,
                "client_secret": self.client_secret, "scope": "https://graph.microsoft.com/.default"})
            return str(response.raise_for_status().json()["access_token"])

    def stop(self) -> None:
        stop_process(self.process)


def start_stub(state_dir: Path, limits: Limits | None = None) -> RunningStub:
    limits = limits or Limits()
    tenant, client_id, secret = str(uuid.uuid4()), str(uuid.uuid4()), secrets.token_urlsafe(24)
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.graphstub", "--state-dir", str(state_dir), "--client-id", client_id,
         "--latency-ms", str(limits.latency_ms), "--concurrency", str(limits.concurrency),
         "--budget", str(limits.budget), "--window", str(limits.window)],
        cwd=ROOT, env={**os.environ, "GRAPHSTUB_CLIENT_SECRET": secret}, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.match(r"graphstub ready (\S+) ca=(\S+)", line)
    if match is None:
        process.kill()
        raise RuntimeError(f"the Graph stand-in did not start: {line!r}")
    return RunningStub(process, match.group(1), Path(match.group(2)), tenant, client_id, secret)


async def serve(args: argparse.Namespace) -> None:
    tls = create_tls(Path(args.state_dir))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tls.server_pem))
    stub = Stub(args.client_id, args.client_secret,
                Limits(args.latency_ms, args.concurrency, args.budget, args.window))
    runner = web.AppRunner(stub.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port, ssl_context=context, backlog=1024)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"graphstub ready https://127.0.0.1:{port} ca={tls.ca_path}", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", default=None, help="default: GRAPHSTUB_CLIENT_SECRET")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--window", type=float, default=10.0)
    args = parser.parse_args(argv)
    if args.client_secret is None:
        args.client_secret = os.environ["GRAPHSTUB_CLIENT_SECRET"]
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
