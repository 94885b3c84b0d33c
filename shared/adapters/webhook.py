"""WebhookSender: one CloudEvent POSTed to the booking system, signed per Standard Webhooks.

Headers ``webhook-id`` (the CloudEvent id, stable across retries), ``webhook-timestamp`` and
``webhook-signature`` (``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``), made by the
``standardwebhooks`` package so receivers verify with the same library. The secret is never logged.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from shared.errors import TransientError

__all__ = ["SecretSource", "StandardWebhookSender"]

# Where the signing secret comes from on each send: Key Vault (so a rotation is followed without a
# restart) or, without a vault, the fixed app setting.
SecretSource = Callable[[], Awaitable[str | None]]


class StandardWebhookSender:
    def __init__(self, url: str, secret: str | SecretSource, *, ca_file: str | None = None,
                 timeout: float = 10.0) -> None:
        self._url = url
        self._secret = secret
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_file) if ca_file else True
        self._http = httpx.AsyncClient(verify=verify, timeout=httpx.Timeout(timeout))

    async def close(self) -> None:
        await self._http.aclose()

    def headers(self, event: dict[str, Any], body: str, now: datetime, secret: str | None = None) -> dict[str, str]:
        from standardwebhooks.webhooks import Webhook

        key = secret if secret is not None else self._secret
        assert isinstance(key, str), "a secret source is read in send()"
        return {
            "content-type": "application/cloudevents+json",
            "webhook-id": str(event["id"]),
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(key).sign(str(event["id"]), now, body),
        }

    async def _current_secret(self) -> str:
        secret = self._secret if isinstance(self._secret, str) else await self._secret()
        if not secret:
            raise TransientError("the outbound webhook secret is not available yet")
        return secret

    async def send(self, event: dict[str, Any]) -> None:
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        headers = self.headers(event, body, datetime.now(UTC), await self._current_secret())
        try:
            response = await self._http.post(self._url, content=body.encode("utf-8"), headers=headers)
        except httpx.HTTPError as exc:
            raise TransientError(f"booking-system webhook unreachable: {type(exc).__name__}") from exc
        if 200 <= response.status_code < 300:
            return
        # Standard Webhooks: anything but 2xx is retried with backoff, then dead-lettered.
        raise TransientError(f"booking-system webhook answered {response.status_code}")
