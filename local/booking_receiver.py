"""A tiny booking-system stand-in for the demo and the end-to-end tests: receives the connector's
outbound webhook, verifies each delivery with the ``standardwebhooks`` package (as a real receiver
would), deduplicates on ``webhook-id`` and can be told to fail the next N deliveries. It also serves the
page a person returns to after connecting their calendar (any GET; ``returns`` keeps each path and query)."""

from __future__ import annotations

import base64
import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["BookingReceiver", "start_booking_receiver"]


@dataclass
class BookingReceiver:
    secret: str
    server: ThreadingHTTPServer | None = None
    events: list[dict[str, Any]] = field(default_factory=list)  # verified, first delivery of each id
    attempts: list[dict[str, Any]] = field(default_factory=list)  # every delivery: id, status
    fail_next: int = 0
    returns: list[str] = field(default_factory=list)  # GETs: a person back from connecting (path and query)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/hooks/calendar"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def of_type(self, prefix: str) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.events if e["type"].startswith(prefix)]

    def clear(self) -> None:
        with self.lock:
            self.events.clear()
            self.attempts.clear()
            self.fail_next = 0

    def receive(self, body: bytes, headers: dict[str, str]) -> int:
        from standardwebhooks.webhooks import Webhook, WebhookVerificationError

        try:
            event = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            with self.lock:
                self.attempts.append({"id": headers.get("webhook-id"), "status": 401})
            return 401
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                self.attempts.append({"id": headers.get("webhook-id"), "status": 503})
                return 503
            self.attempts.append({"id": headers.get("webhook-id"), "status": 204})
            if all(e["id"] != headers.get("webhook-id") for e in self.events):
                self.events.append(event)
        return 204


def start_booking_receiver(secret: str | None = None) -> BookingReceiver:
    receiver = BookingReceiver(secret or "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            status = receiver.receive(body, {k.lower(): v for k, v in self.headers.items()})
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            with receiver.lock:
                receiver.returns.append(self.path)
            page = b"Back in the booking system. You can close this window."
            self.send_response(200)
            self.send_header("content-type", "text/plain; charset=utf-8")
            self.send_header("content-length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

    receiver.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=receiver.server.serve_forever, name="booking-receiver", daemon=True).start()
    return receiver


def describe(event: dict[str, Any]) -> str:
    data = event.get("data") or {}
    if event["type"].startswith("reservation."):
        return (f"{event['type']:<22} {data.get('room', '')}  {data.get('start', '')}  "
                f"{(data.get('organizer') or {}).get('email', '')}  {json.dumps(data.get('subject'))}")
    return f"{event['type']:<22} {data.get('userPrincipalName', '')}  accountEnabled={data.get('accountEnabled')}"
