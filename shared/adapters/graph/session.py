"""The only place msgraph-sdk is wired: one ``GraphSession`` per process (per event loop), which every Graph
adapter receives from the composition root.

The session owns one connection pool behind one ``MailboxConcurrencyLimiter`` (at most 4 requests in flight
per mailbox, Outlook's documented limit), and over it the msgraph client and a plain httpx client for the
calls the SDK lacks. Adapters with their own clients would each bring their own limiter, and a room that the
calendar and the rooms adapters both read would see 8 requests at once.

The msgraph client's middleware, outermost first:
* ``CredentialRefreshHandler``: a 401 drops the refused token and repeats the request once.
* ``BriefRetryHandler`` replaces kiota's RetryHandler: it retries 429/503/504 only when the wait is
  short, and otherwise returns the answer so the caller can leave the waiting to the queue (kiota's
  handler would sleep up to 180 s inside the function, holding the message lock).
* kiota's redirect, parameter-name, URL and user-agent handlers, as the SDK's defaults have them.
Below them, at the transport, the limiter counts each attempt, so a sleeping retry holds no slot, and
each attempt is a span of the current trace, with the mailbox's bucket (never its address), the status and
Retry-After's wait, and counted in connector.graph.requests / throttled / wait_seconds. The limiter also
closes a mailbox for its Retry-After and paces it to the budget its 429s reveal (``pacing.py``).

Cost per request: one token per process and lifetime (azure-identity's credentials cache it; the kiota
authentication provider asks the cached credential on each request), one httpx pool, one middleware chain
built once per client.

Across the instances of a scale-out each process keeps its own gate and pace, and nothing is shared: with N
instances working one mailbox, at most 4·N requests are in flight there (Graph refuses the excess with a 429
that each instance then honours), each instance learns the rate its own requests get (a cycle measures what
the server granted that instance, so N instances converge on about 1/N of the budget each), and after a 429
each other instance sends at most its in-flight requests (≤ 4) before its own 429 closes the mailbox for it.
The worst case is thus 4·(N-1) extra refused requests per throttling episode. Holding the bounds exactly would
need one owner per mailbox (Service Bus sessions keyed by mailbox rather than by entity, or a blob lease per
mailbox taken for a busy period); neither is worth a round trip per request at Outlook's limits.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Self
from urllib.parse import unquote, urlsplit

import httpx
from kiota_http.middleware.middleware import BaseMiddleware

from shared.adapters.graph.pacing import MAX_INLINE_WAIT, MailboxPacer
from shared.app.ports.telemetry import NO_TELEMETRY, Telemetry
from shared.config import Settings
from shared.domain.mailbox_bucket import mailbox_bucket

__all__ = ["BriefRetryHandler", "CredentialRefreshHandler", "GraphAdapter", "GraphSession", "MailboxConcurrencyLimiter",
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


class MailboxConcurrencyLimiter(httpx.AsyncBaseTransport):
    """The transport under every Graph request of the process: per mailbox (``/users/{id or address}/...``)
    at most ``limit`` in flight, each held until its answer has been read in full, no request while a
    throttling answer's Retry-After runs, and a pace learnt from the mailbox's 429s (``pacing.MailboxPacer``).
    A request whose turn is more than ``max_inline_wait`` away raises ``Throttled`` instead of sleeping."""

    def __init__(self, transport: httpx.AsyncBaseTransport, limit: int = MAILBOX_CONCURRENCY,
                 telemetry: Telemetry = NO_TELEMETRY, *, pacer: MailboxPacer | None = None) -> None:
        self._transport = transport
        self._limit = limit
        self._telemetry = telemetry
        self.pacer = pacer if pacer is not None else MailboxPacer(limit)
        self._aliases: dict[str, str] = {}
        self._closed = False

    def alias(self, user_id: str, mailbox: str) -> None:
        """Requests to ``/users/{user_id}`` reach ``mailbox``: count them at its gate."""
        self._aliases[user_id.lower()] = mailbox.lower()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        mailbox = mailbox_of_url(request.url)
        if mailbox is not None:
            mailbox = self._aliases.get(mailbox, mailbox)
        bucket = None if mailbox is None else mailbox_bucket(mailbox)
        attributes: dict[str, str | int] = {"http.request.method": request.method}
        if bucket is not None:
            attributes["mailbox_bucket"] = bucket
        with self._telemetry.span(f"graph {request.method}", attributes, client=True) as span:
            response = await self._send(request, mailbox, bucket)
            span.set("http.response.status_code", response.status_code)
            self._telemetry.graph_request(bucket, response.status_code)
            wait = retry_after_seconds(response.headers.get("retry-after"))
            if response.status_code in RETRY_STATUSES and wait is not None:
                span.set("retry_after_seconds", wait)
                self._telemetry.graph_throttled(bucket, wait)
            return response

    async def _send(self, request: httpx.Request, mailbox: str | None, bucket: int | None) -> httpx.Response:
        if mailbox is None:
            return await self._transport.handle_async_request(request)
        pace, paced = await self.pacer.enter(mailbox, bucket)
        status: int | None = None
        retry_after: float | None = None
        try:
            response = await self._transport.handle_async_request(request)
            # The request is in flight until its answer is in: read it (undecoded) inside the gate.
            try:
                body = b"".join([chunk async for chunk in response.aiter_raw()])
            finally:
                await response.aclose()
            status, retry_after = response.status_code, retry_after_seconds(response.headers.get("retry-after"))
        finally:
            self.pacer.leave(mailbox, pace, status, retry_after, paced)
        return httpx.Response(response.status_code, headers=response.headers, stream=httpx.ByteStream(body),
                              extensions=response.extensions, request=request)

    async def aclose(self) -> None:
        if not self._closed:  # the msgraph client and the plain client both close it
            self._closed = True
            await self._transport.aclose()


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
        # Many requests may come back 401 with the same token; only the first drops it.
        await self._credential.invalidate(request.headers["authorization"].removeprefix("Bearer ").strip())
        token = await self._credential.get_token(*self._scopes)
        request.headers["Authorization"] = f"Bearer {token.token}"
        return await super().send(request, transport)


class BriefRetryHandler(BaseMiddleware):
    """Retry throttling answers whose wait is at most ``max_inline_wait`` seconds (the limiter's bound).

    The retry passes the same per-mailbox gate as any request: it leaves after the Retry-After the limiter has
    closed the mailbox for, and if another answer has closed it for longer meanwhile (or its paced turn is
    further away than the bound) the gate raises ``Throttled`` rather than let it reach the mailbox. Event
    creates are safe to repeat because they carry a ``transactionId``.
    """

    def __init__(self, max_retries: int = 2, max_inline_wait: float = MAX_INLINE_WAIT) -> None:
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


class GraphSession:
    """Everything the Graph adapters of one process share: the token credential, one connection pool behind
    one per-mailbox limiter, the msgraph client and a plain httpx client over them. Nothing connects before
    the first request; clients are built on first use."""

    def __init__(self, settings: Settings, credential: Any = None, telemetry: Telemetry = NO_TELEMETRY) -> None:
        self.settings = settings
        self._owned: list[Any] = []
        if credential is None:
            credential = _secret_credential(settings)
            self._owned.append(credential)
        self.credential = credential
        verify = ssl.create_default_context(cafile=settings.ca_file) if settings.ca_file else True
        self.limiter = MailboxConcurrencyLimiter(httpx.AsyncHTTPTransport(
            verify=verify, limits=httpx.Limits(max_connections=64, max_keepalive_connections=32)),
            telemetry=telemetry)
        self._client: Any = None
        self._http: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        """Plain httpx over the session's pool and limiter; callers add the token themselves."""
        if self._http is None:
            self._http = self._httpx()
            self._owned.append(self._http)
        return self._http

    @property
    def client(self) -> Any:
        """The GraphServiceClient, acting with the app's credential."""
        if self._client is None:
            self._client = self._build_client(self.credential)
        return self._client

    def client_for(self, credential: Any) -> Any:
        """A GraphServiceClient acting with another async token credential (a person's delegated connection),
        over the same pool and per-mailbox limiter as every other request of the process. The credential's
        ``get_token`` decides the scopes it asks for; cache the client per credential if you call this often."""
        return self._build_client(credential, token_of=_AzureCoreTokens(credential))

    async def close(self) -> None:
        owned, self._owned = self._owned, []
        self._client, self._http = None, None
        for closer in reversed(owned):
            await closer.aclose() if isinstance(closer, httpx.AsyncClient) else await closer.close()
        await self.limiter.aclose()

    def _httpx(self) -> httpx.AsyncClient:
        # trust_env off: a proxy from the environment would get a transport of its own, past the limiter.
        return httpx.AsyncClient(transport=self.limiter, timeout=httpx.Timeout(30.0, connect=10.0), trust_env=False)

    def _build_client(self, credential: Any, token_of: Any = None) -> Any:
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

        settings = self.settings
        host = urlsplit(settings.graph_endpoint).hostname or ""
        auth = AzureIdentityAuthenticationProvider(token_of or credential, scopes=list(settings.scopes),
                                                   allowed_hosts=[host])
        http = self._httpx()
        self._owned.append(http)
        middleware: list[BaseMiddleware] = [
            *([CredentialRefreshHandler(credential, list(settings.scopes))] if hasattr(credential, "invalidate")
              else []),
            BriefRetryHandler(),
            RedirectHandler(),
            ParametersNameDecodingHandler(),
            UrlReplaceHandler(),
            UserAgentHandler(),
        ]
        client = GraphClientFactory.create_with_custom_middleware(middleware, client=http)
        adapter = GraphRequestAdapter(auth, client=client)
        adapter.base_url = settings.graph_endpoint
        return GraphServiceClient(request_adapter=adapter)


class _AzureCoreTokens:
    """kiota's authentication provider takes a token only as azure-core's ``AccessToken`` (an isinstance check; any
    other object becomes an empty Authorization header): a person's credential returns the port's own token type."""

    def __init__(self, credential: Any) -> None:
        self._credential = credential

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        token = await self._credential.get_token(*scopes, **kwargs)
        return token if isinstance(token, AccessToken) else AccessToken(token.token, int(token.expires_on))


def _secret_credential(settings: Settings) -> Any:
    """The client secret from the settings (tests and tools; workers pass the credentials runtime's provider)."""
    from azure.identity.aio import ClientSecretCredential

    assert settings.tenant_id and settings.client_id and settings.client_secret
    extra = {"connection_verify": settings.ca_file} if settings.ca_file else {}
    return ClientSecretCredential(
        settings.tenant_id, settings.client_id, settings.client_secret, authority=settings.auth_endpoint, **extra,
    )


class GraphAdapter:
    """What the Graph adapters share: the session's msgraph client. An adapter built ``from_settings``
    (tests, tools) has a session of its own and closes it; one given the process's session leaves it to
    the composition root."""

    def __init__(self, session: GraphSession, *, owns_session: bool = False) -> None:
        self._session = session
        self._client = session.client
        self._owns_session = owns_session

    @classmethod
    def from_settings(cls, settings: Settings, credential: Any = None) -> Self:
        return cls(GraphSession(settings, credential), owns_session=True)

    async def close(self) -> None:
        if self._owns_session:
            await self._session.close()
