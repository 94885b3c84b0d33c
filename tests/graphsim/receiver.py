"""A tiny loopback webhook receiver for the subscription tests: answers Graph's validation
handshake, records notifications, and can be scripted to fail, echo a wrong token or hang.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit


@dataclass
class Receiver:
    base_url: str
    validations: list[dict[str, Any]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)  # {"path", "body"}
    # Scripted answers: popped per notification (default 202); validation mode "ok" | "refuse" |
    # "encoded".
    statuses: list[int] = field(default_factory=list)
    validation_mode: str = "ok"
    gate: threading.Event | None = None  # when set, notifications wait for it
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/api/graph/notifications") -> str:
        return self.base_url + path

    def items(self, path: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [item for r in self.received if path is None or r["path"] == path
                    for item in r["body"]["value"]]

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], path: str | None = None,
                 timeout: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            items = self.items(path)
            if predicate(items):
                return items
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver never saw what was expected; got {items}")
            time.sleep(0.02)


def _handler(rx: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _answer(self, status: int, body: bytes = b"", ctype: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            token = parse_qs(parts.query).get("validationToken")
            if token:
                with rx.lock:
                    rx.validations.append({"path": parts.path, "token": token[0], "query": parts.query,
                                           "contentType": self.headers.get("Content-Type")})
                if rx.validation_mode == "refuse":
                    self._answer(403)
                elif rx.validation_mode == "encoded":
                    self._answer(200, quote(token[0]).encode())
                else:
                    self._answer(200, token[0].encode())
                return
            if rx.gate is not None:
                rx.gate.wait(timeout=30)
            with rx.lock:
                rx.received.append({"path": parts.path, "body": json.loads(raw),
                                    "headers": {k.lower(): v for k, v in self.headers.items()}})
                status = rx.statuses.pop(0) if rx.statuses else 202
            self._answer(status)

    return Handler


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    """Use as a fixture body: ``with running_receiver() as rx: yield rx``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(Receiver("")))
    rx = Receiver(f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(rx)
    thread = threading.Thread(target=server.serve_forever, name="receiver", daemon=True)
    thread.start()
    try:
        yield rx
    finally:
        if rx.gate is not None:
            rx.gate.set()
        server.shutdown()
        server.server_close()


def wait_until(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Polls ``check`` until it returns something truthy, which it returns."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
    return result


async def wait_until_async(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """``wait_until`` for async tests: the event loop keeps running between checks. A guard against
    hanging, not a timing assertion: the condition decides."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
    return result
