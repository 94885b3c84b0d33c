"""OperatorAuth over Entra ID: a bearer access token checked with PyJWT against the tenant's signing keys.

Checked: the signature (RS256, a key of the tenant's JWKS, fetched from the configured authority so the local
simulator can serve it), the issuer (the tenant's v2.0 or v1.0 issuer), the audience (the connector's API), the
tenant id, and the lifetime (``exp`` required, ``nbf`` when present, with a small leeway for clock skew). The
keys are cached; a token signed with a key not in the cache makes one refetch, at most once per
``refetch_floor`` seconds, so a stream of made-up key ids cannot make the app hammer Entra. Tokens and claims
never reach a log line or an exception message.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import jwt

from shared.app.ports.operator import Principal
from shared.errors import NotSignedIn, TransientError

__all__ = ["EntraOperatorAuth"]

_ALGORITHMS = ["RS256"]


def bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotSignedIn("no bearer token")
    return token.strip()


class EntraOperatorAuth:
    def __init__(self, *, tenant_id: str | None, audiences: Sequence[str], issuers: Sequence[str],
                 auth_endpoint: str, ca_file: str | None = None, leeway: float = 60.0,
                 keys_max_age: float = 12 * 3600, refetch_floor: float = 300.0,
                 transport: httpx.AsyncBaseTransport | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._tenant = tenant_id
        self._audiences = list(audiences)
        self._issuers = frozenset(issuers)
        self._jwks_url = f"{auth_endpoint.rstrip('/')}/{tenant_id}/discovery/v2.0/keys"
        self._leeway = leeway
        self._max_age, self._floor = keys_max_age, refetch_floor
        self._monotonic = monotonic
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # the last fetch that worked
        self._tried_at: float | None = None  # the last fetch at all
        self._lock = asyncio.Lock()
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_file) if ca_file else True
        self._http = httpx.AsyncClient(verify=verify, timeout=httpx.Timeout(10.0), transport=transport)

    async def close(self) -> None:
        await self._http.aclose()

    async def verify(self, authorization: str | None) -> Principal:
        token = bearer_token(authorization)
        if not (self._tenant and self._audiences):
            raise NotSignedIn("operator sign-in is not configured (tenant and audience)")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise NotSignedIn("the token is not a JWT") from None
        if header.get("alg") not in _ALGORITHMS:
            raise NotSignedIn("the token is not signed with RS256")
        key = await self._key(str(header.get("kid") or ""))
        claims = self._decode(token, key)
        if str(claims.get("tid", "")).lower() != self._tenant.lower():
            raise NotSignedIn("the token is from another tenant")
        roles = claims.get("roles") or []
        return Principal(
            subject=str(claims.get("oid") or claims.get("sub") or ""),
            name=str(claims.get("preferred_username") or claims.get("upn") or claims.get("azp")
                     or claims.get("appid") or ""),
            roles=frozenset(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else frozenset())

    def _decode(self, token: str, key: jwt.PyJWK) -> dict[str, Any]:
        try:
            return jwt.decode(token, key, algorithms=_ALGORITHMS, audience=self._audiences, issuer=self._issuers,
                              leeway=self._leeway, options={"require": ["exp", "iss", "aud"]})
        except jwt.ExpiredSignatureError:
            raise NotSignedIn("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise NotSignedIn("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise NotSignedIn("the token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise NotSignedIn("the token is from another issuer") from None
        except jwt.InvalidSignatureError:
            raise NotSignedIn("the token's signature does not verify") from None
        except jwt.PyJWTError:
            raise NotSignedIn("the token is not valid") from None

    async def _key(self, kid: str) -> jwt.PyJWK:
        if not kid:
            raise NotSignedIn("the token names no signing key")
        async with self._lock:
            now = self._monotonic()
            stale = self._fetched_at is None or now - self._fetched_at >= self._max_age
            may_fetch = not self._keys or self._tried_at is None or now - self._tried_at >= self._floor
            if (stale or kid not in self._keys) and may_fetch:
                await self._fetch(now)
        key = self._keys.get(kid)
        if key is None:
            raise NotSignedIn("the token is signed with a key the tenant does not publish")
        return key

    async def _fetch(self, now: float) -> None:
        self._tried_at = now
        try:
            response = await self._http.get(self._jwks_url)
            response.raise_for_status()
            jwks = jwt.PyJWKSet.from_dict(response.json())
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
            if self._keys:  # Entra unreachable: keep checking with the keys already known
                return
            raise TransientError(f"the tenant's signing keys cannot be read: {type(exc).__name__}") from exc
        self._keys = {k.key_id: k for k in jwks.keys if k.key_id}
        self._fetched_at = now
