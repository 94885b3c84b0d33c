"""The only place msgraph-sdk is wired: credential → auth provider → httpx with our middleware.

Middleware, outermost first:
* ``BriefRetryHandler`` replaces kiota's RetryHandler: it retries 429/503/504 only when the wait is
  short, and otherwise returns the answer so the caller can leave the waiting to the queue (kiota's
  handler would sleep up to 180 s inside the function, holding the message lock).
* kiota's redirect, parameter-name, URL and user-agent handlers, as the SDK's defaults have them.
* ``MailboxConcurrencyLimiter`` (closest to the wire): at most 4 requests in flight per mailbox,
  Outlook's documented concurrency limit, counted per attempt so a sleeping retry holds no slot.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections import defaultdict
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from kiota_http.middleware.middleware import BaseMiddleware

from shared.config import Settings

__all__ = ["BriefRetryHandler", "CredentialRefreshHandler", "MailboxConcurrencyLimiter", "build_graph_service_client",
           "retry_after_seconds"]

MAILBOX_CONCURRENCY = 4
RETRY_STATUSES = frozenset({429, 503, 504})


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: a number (fractions too) or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def mailbox_of_url(url: httpx.URL | str) -> str | None:
    parts = [unquote(p) for p in urlsplit(str(url)).path.split("/") if p]
    lowered = [p.lower() for p in parts]
    if "users" in lowered:
        index = lowered.index("users")
        if index + 1 < len(parts):
            return parts[index + 1].lower()
    return None


class MailboxConcurrencyLimiter(BaseMiddleware):
    def __init__(self, limit: int = MAILBOX_CONCURRENCY) -> None:
        super().__init__()
        self._limit = limit
        self._gates: defaultdict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(self._limit))

    async def send(self, request: httpx.Request, transport: httpx.AsyncBaseTransport) -> httpx.Response:
        mailbox = mailbox_of_url(request.url)
        if mailbox is None:
            return await super().send(request, transport)
        async with self._gates[mailbox]:
            response = await super().send(request, transport)
            # Read the body inside the gate: the request is in flight until its answer is in.
            await response.aread()
            return response


class CredentialRefreshHandler(BaseMiddleware):
    """Graph answered 401 to a token we sent: the credential may have been rotated or revoked. Ask the
    provider to drop its cached token (and re-read Key Vault), then repeat the request once."""

    def __init__(self, credential: Any, scopes: list[str]) -> None:
        super().__init__()
        self._credential = credential
        self._scopes = scopes

    async def send(self, request: httpx.Request, transport: httpx.AsyncBaseTransport) -> httpx.Response:
        response = await super().send(request, transport)
        if response.status_code != 401 or "authorization" not in request.headers:
            return response
        await response.aread()
        await response.aclose()
        await self._credential.invalidate()
        token = await self._credential.get_token(*self._scopes)
        request.headers["Authorization"] = f"Bearer {token.token}"
        return await super().send(request, transport)


class BriefRetryHandler(BaseMiddleware):
    """Retry throttling answers whose wait is at most ``max_inline_wait`` seconds.

    Event creates are safe to repeat because they carry a ``transactionId``.
    """

    def __init__(self, max_retries: int = 2, max_inline_wait: float = 5.0) -> None:
        super().__init__()
        self.max_retries = max_retries
        self.max_inline_wait = max_inline_wait

    async def send(self, request: httpx.Request, transport: httpx.AsyncBaseTransport) -> httpx.Response:
        attempt = 0
        while True:
            response = await super().send(request, transport)
            if response.status_code not in RETRY_STATUSES or attempt >= self.max_retries:
                return response
            wait = retry_after_seconds(response.headers.get("retry-after"))
            if wait is None:
                wait = 0.5 * 2**attempt + random.uniform(0, 0.25)
            if wait > self.max_inline_wait:
                return response  # long waits belong to the queue
            await response.aread()
            await response.aclose()
            attempt += 1
            request.headers["Retry-Attempt"] = str(attempt)
            await asyncio.sleep(wait)


def build_graph_service_client(settings: Settings, credential: Any = None) -> tuple[Any, list[Any]]:
    """A GraphServiceClient for ``settings``, and the objects to close at shutdown."""
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from kiota_http.middleware import (
        ParametersNameDecodingHandler,
        RedirectHandler,
        UrlReplaceHandler,
        UserAgentHandler,
    )
    from msgraph.graph_request_adapter import GraphRequestAdapter
    from msgraph.graph_service_client import GraphServiceClient
    from msgraph_core import GraphClientFactory

    closers: list[Any] = []
    if credential is None:
        from azure.identity.aio import ClientSecretCredential

        assert settings.tenant_id and settings.client_id and settings.client_secret
        extra = {"connection_verify": settings.ca_file} if settings.ca_file else {}
        credential = ClientSecretCredential(
            settings.tenant_id, settings.client_id, settings.client_secret, authority=settings.auth_endpoint, **extra,
        )
        closers.append(credential)
    host = urlsplit(settings.graph_endpoint).hostname or ""
    auth = AzureIdentityAuthenticationProvider(credential, scopes=list(settings.scopes), allowed_hosts=[host])
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=settings.ca_file) if settings.ca_file else True
    http = httpx.AsyncClient(verify=verify, timeout=httpx.Timeout(30.0, connect=10.0),
                             limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))
    closers.append(http)
    middleware: list[BaseMiddleware] = [
        *([CredentialRefreshHandler(credential, list(settings.scopes))] if hasattr(credential, "invalidate") else []),
        BriefRetryHandler(),
        RedirectHandler(),
        ParametersNameDecodingHandler(),
        UrlReplaceHandler(),
        UserAgentHandler(),
        MailboxConcurrencyLimiter(),
    ]
    client = GraphClientFactory.create_with_custom_middleware(middleware, client=http)
    adapter = GraphRequestAdapter(auth, client=client)
    adapter.base_url = settings.graph_endpoint
    return GraphServiceClient(request_adapter=adapter), closers
