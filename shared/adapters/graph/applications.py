"""ApplicationGateway: the connector's own app registration through ``/applications(appId='...')``.

Plain httpx rather than msgraph-sdk: the SDK's ``applications_with_app_id`` builder has no
addPassword/removePassword/addKey/removeKey (those exist only under ``/applications/{object id}``, which
would cost a lookup first), and these four small JSON calls are clearer written out. It uses the same
token provider as the calendar client, so a rotated credential is followed here too, and a 401 drops
the cached token and repeats the request once. The composition root hands it the Graph session's httpx
client, so its requests share the process's connection pool and per-mailbox limiter.
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from typing import Any

import httpx

from shared.app.ports.credentials import ApplicationInfo, NewPassword
from shared.config import Settings
from shared.domain.credentials.policy import AppCredential
from shared.errors import ConnectorError, Forbidden, NotFound, RejectedByGraph, Throttled, TransientError

__all__ = ["GraphApplicationGateway", "parse_credential"]

OWNED_BY_FIX = ("grant the app the Microsoft Graph application permission Application.ReadWrite.OwnedBy (admin "
                "consent) and make its service principal an owner of its own registration: az ad app owner add "
                "--id <appId> --owner-object-id <service principal object id>")


PRINCIPAL_FIX = ("in that tenant, grant the app the Microsoft Graph application permission "
                 "Application.ReadWrite.OwnedBy (admin consent) and make its service principal there an owner of "
                 "itself, or let the tenant's administrator rotate the credential and put it into Key Vault")


class GraphApplicationGateway:
    """``resource``: ``applications`` (the app registration, in its home tenant) or ``servicePrincipals`` (the
    app's service principal in the tenant the credential's token is requested for: a credential a customer's
    administrator issued for the app in their directory, usable there only)."""

    def __init__(self, settings: Settings, credential: Any, *, http: httpx.AsyncClient | None = None,
                 resource: str = "applications") -> None:
        assert settings.client_id
        self._base = f"{settings.graph_endpoint}/{resource}(appId='{settings.client_id}')"
        self._fix = PRINCIPAL_FIX if resource == "servicePrincipals" else OWNED_BY_FIX
        self._scopes = settings.scopes
        self._credential = credential
        self._owns_http = http is None
        verify: ssl.SSLContext | bool = True
        if settings.ca_file:
            verify = ssl.create_default_context(cafile=settings.ca_file)
        self._http = http or httpx.AsyncClient(verify=verify, timeout=httpx.Timeout(30.0, connect=10.0))

    async def get(self) -> ApplicationInfo:
        document = await self._call("GET", "?$select=id,appId,passwordCredentials,keyCredentials")
        return ApplicationInfo(
            object_id=str(document.get("id") or ""),
            app_id=str(document.get("appId") or ""),
            passwords=tuple(parse_credential(c, "password") for c in document.get("passwordCredentials") or []),
            keys=tuple(parse_credential(c, "certificate") for c in document.get("keyCredentials") or []),
        )

    async def add_password(self, display_name: str, end: datetime) -> NewPassword:
        body = {"passwordCredential": {"displayName": display_name, "endDateTime": _iso(end)}}
        document = await self._call("POST", "/addPassword", body)
        return NewPassword(parse_credential(document, "password"), str(document.get("secretText") or ""))

    async def remove_password(self, key_id: str) -> None:
        await self._call("POST", "/removePassword", {"keyId": key_id})

    async def add_key(self, certificate_base64: str, display_name: str, proof: str) -> AppCredential:
        body = {"keyCredential": {"type": "AsymmetricX509Cert", "usage": "Verify", "key": certificate_base64,
                                  "displayName": display_name},
                "passwordCredential": None, "proof": proof}
        return parse_credential(await self._call("POST", "/addKey", body), "certificate")

    async def remove_key(self, key_id: str, proof: str) -> None:
        await self._call("POST", "/removeKey", {"keyId": key_id, "proof": proof})

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        for attempt in (1, 2):
            token = await self._credential.get_token(*self._scopes)
            try:
                response = await self._http.request(method, self._base + path, json=body,
                                                    headers={"Authorization": f"Bearer {token.token}"})
            except httpx.HTTPError as exc:
                raise TransientError(f"Graph unreachable: {type(exc).__name__}") from None
            # 401: the token was refused; 403: a permission granted since the token was issued is only in
            # a new token. Either way, one more try with a fresh token.
            retry = response.status_code == 403 or (response.status_code == 401
                                                    and _code(response) == "InvalidAuthenticationToken")
            if retry and attempt == 1 and hasattr(self._credential, "invalidate"):
                await self._credential.invalidate(token.token)
                continue
            if response.status_code >= 400:
                raise classify(response, self._fix)
            if response.status_code == 204 or not response.content:
                return {}
            document: dict[str, Any] = response.json()
            return document
        raise AssertionError("unreachable")


def _code(response: httpx.Response) -> str:
    try:
        return str((response.json().get("error") or {}).get("code") or "")
    except (ValueError, AttributeError):
        return ""


def classify(response: httpx.Response, fix: str = OWNED_BY_FIX) -> ConnectorError:
    """Graph's answer to an application call → the connector's error, naming the fix."""
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    code, message = str(error.get("code") or ""), str(error.get("message") or "")
    detail = f"Graph answered {response.status_code} {code}: {message}".strip()
    status = response.status_code
    if status == 403:
        return Forbidden(f"the app may not manage its own credentials ({detail}); {fix}")
    if status == 404:
        return NotFound(f"the app registration was not found ({detail})")
    if status in (429, 503, 504):
        from shared.adapters.graph.session import retry_after_seconds

        return Throttled(detail, retry_after=retry_after_seconds(response.headers.get("retry-after")))
    if status == 401 and code != "InvalidAuthenticationToken":
        # addKey/removeKey answer 401 Authentication_MissingOrMalformed to a proof they refuse.
        return RejectedByGraph(f"the proof of possession was refused ({detail})")
    if status == 401:
        return TransientError(f"Graph refused the token: {detail}")
    if 400 <= status < 500:
        return RejectedByGraph(detail)
    return TransientError(detail)


def parse_credential(document: dict[str, Any], kind: str) -> AppCredential:
    return AppCredential(
        key_id=str(document.get("keyId") or ""),
        kind=kind,
        display_name=document.get("displayName"),
        start=_parse(document.get("startDateTime")),
        end=_parse(document.get("endDateTime")),
        hint=document.get("hint"),
        thumbprint=_thumbprint(document.get("customKeyIdentifier")),
    )


def _thumbprint(value: Any) -> str | None:
    """``customKeyIdentifier``: the SHA-1 thumbprint, as 40 hex digits or as base64 of its 20 bytes."""
    if not value:
        return None
    text = str(value)
    if len(text) == 40 and all(c in "0123456789abcdefABCDEF" for c in text):
        return text.upper()
    import base64
    import binascii

    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        return text.upper()
    return raw.hex().upper() if len(raw) == 20 else text.upper()


def _parse(value: Any) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
