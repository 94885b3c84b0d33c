"""The async token credential the Graph client uses, whatever the credential kind.

* ``secret``: the client secret from ``CALENDAR_MSGRAPH_CLIENT_SECRET``, or, with a vault, the newest
  enabled, unexpired version of the vault secret, re-read every ``ttl`` (an App Service Key Vault
  reference refreshes too late to follow a rotation) and at once when Entra answers ``invalid_client``:
  the failed token request is then repeated once with the fresh version.
* ``certificate``: the certificate (PEM or PKCS#12) read from the vault the same way.
* ``federated``: the managed identity's token exchanged for the app's (nothing stored, nothing to follow).

When no credential works, ``get_token`` raises ``CredentialUnavailable`` with a fix and no secret.

Concurrent callers share one token request: when the token runs out under load, Entra is asked once,
not once per request in flight (azure-identity's credentials do not coordinate their callers), and the
vault is read once when that request answers ``invalid_client``. Likewise, when Graph refuses a token
in many requests at once, the first ``invalidate`` drops it and the others find a newer one.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.adapters.identity.factory import CredentialFactory, entra_code, is_invalid_client
from shared.app.ports.credentials import SecretStore, SecretVersion
from shared.config import Settings
from shared.errors import CredentialUnavailable

__all__ = ["DEFAULT_TTL", "GraphCredentialProvider", "Material"]

logger = logging.getLogger(__name__)

DEFAULT_TTL = timedelta(minutes=5)


@dataclass
class Material:
    """The credential object built from one vault version (or setting), and what is known about it."""

    credential: Any = field(repr=False)
    version: str
    fetched_at: datetime
    expires_on: datetime | None = None
    key_id: str | None = None
    source: SecretVersion | None = field(default=None, repr=False)
    issued: str | None = field(default=None, repr=False)  # the last token obtained with it


class GraphCredentialProvider:
    def __init__(self, settings: Settings, factory: CredentialFactory, *, secrets: SecretStore | None,
                 clock: Callable[[], datetime], ttl: timedelta = DEFAULT_TTL) -> None:
        self._settings = settings
        self._factory = factory
        self._secrets = secrets
        self._clock = clock
        self._ttl = ttl
        self._material: Material | None = None
        self._lock: asyncio.Lock | None = None
        self._retired: list[Any] = []
        self._flights: dict[tuple[Any, ...], asyncio.Future[Any]] = {}
        self.last_success: datetime | None = None  # the credentials status reads it

    @property
    def kind(self) -> str:
        return self._settings.credential.kind

    @property
    def follows_vault(self) -> bool:
        return self.kind != "federated" and self._secrets is not None and bool(self._settings.credential.key_vault_url)

    @property
    def secret_name(self) -> str:
        credential = self._settings.credential
        return credential.certificate_name if self.kind == "certificate" else credential.client_secret_name

    @property
    def material(self) -> Material | None:
        return self._material

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        """A token for ``scopes``; callers that ask while a request is under way share its answer."""
        key = (scopes, repr(sorted(kwargs.items())))
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(self._fetch(*scopes, **kwargs))
            self._flights[key] = flight
            flight.add_done_callback(functools.partial(self._landed, key))
        # Shielded: a caller that gives up (a cancelled function) does not cancel the others' request.
        return await asyncio.shield(flight)

    def _landed(self, key: tuple[Any, ...], flight: asyncio.Future[Any]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            flight.exception()  # seen, even when every caller has gone

    async def _fetch(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.exceptions import ClientAuthenticationError

        material = await self._current(force=False)
        try:
            token = await material.credential.get_token(*scopes, **kwargs)
        except ClientAuthenticationError as exc:
            if not (is_invalid_client(exc) and self.follows_vault):
                raise self._unavailable(exc) from None
            # Someone may have rotated the credential: follow the vault now and try once more.
            fresh = await self._current(force=True, stale=material)
            if fresh.version == material.version:
                raise self._unavailable(exc) from None
            logger.info("credential in Key Vault changed (version %s); retrying the token request", fresh.version)
            try:
                token = await fresh.credential.get_token(*scopes, **kwargs)
            except ClientAuthenticationError as again:
                raise self._unavailable(again) from None
            material = fresh
        material.issued = token.token
        self.last_success = self._clock()
        return token

    async def check(self, *scopes: str) -> Any:
        """A token asked of Entra now (not from a cache) with the credential in use: the doctor's check."""
        from azure.core.exceptions import ClientAuthenticationError

        try:
            material = await self._current(force=True)  # what the vault holds now
        except CredentialUnavailable:
            if self._material is None:
                raise
            material = self._material  # vault unreachable: the doctor says so in its own line
        if material.source is not None:
            probe = self._build(material.source).credential
        elif self.kind == "federated":
            probe = self._factory.federated()
        else:
            probe = self._factory.secret(self._settings.client_secret or "")
        try:
            return await probe.get_token(*scopes)
        except ClientAuthenticationError as exc:
            raise self._unavailable(exc) from None
        finally:
            await probe.close()

    async def invalidate(self, refused: str | None = None) -> None:
        """Graph refused a token: drop the cached one and re-read the vault on the next request.

        ``refused``: the token Graph refused. When it is no longer the newest one obtained (another
        request has already had it dropped and a new one fetched), there is nothing to do."""
        async with self._guard():
            material = self._material
            if refused is not None and (material is None or material.issued != refused):
                return
            await self._drop()
            self._flights.clear()  # a request under way may bring the refused token back: start anew

    async def switch_to(self, version: SecretVersion) -> None:
        """Use this version from now on (rotation just stored it)."""
        async with self._guard():
            await self._drop()
            self._flights.clear()
            self._material = self._build(version)

    async def close(self) -> None:
        await self._drop()
        retired, self._retired = self._retired, []
        for credential in retired:
            close = getattr(credential, "close", None)
            if close is not None:
                await close()

    # -- internals

    def _guard(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def _current(self, *, force: bool, stale: Material | None = None) -> Material:
        now = self._clock()
        material = stale or self._material
        if material is not None and not force and (not self.follows_vault or now - material.fetched_at < self._ttl):
            return material
        async with self._guard():
            if self._material is not None and self._material is not material:
                return self._material  # another task refreshed it meanwhile
            if not self.follows_vault:
                if self._material is None:
                    self._material = self._build_local(now)
                return self._material
            assert self._secrets is not None
            version = await self._secrets.current(self.secret_name, now)
            if self._material is not None and self._material.version == version.version:
                self._material.fetched_at = now
                return self._material
            await self._drop()
            self._material = self._build(version)
            return self._material

    def _build(self, version: SecretVersion) -> Material:
        now = self._clock()
        if self.kind == "certificate":
            from shared.domain.credentials.certificates import load_certificate

            try:
                loaded = load_certificate(version.value, version.content_type)
            except ValueError as exc:
                raise CredentialUnavailable(
                    f"Key Vault secret {version.name} (version {version.version}): {exc}") from None
            credential = self._factory.certificate(loaded.pem)
            expires: datetime | None = min(filter(None, (version.expires_on, loaded.not_after)))
        else:
            credential = self._factory.secret(version.value)
            expires = version.expires_on
        return Material(credential, version.version, now, expires, version.tags.get("keyId"), version)

    def _build_local(self, now: datetime) -> Material:
        if self.kind == "federated":
            return Material(self._factory.federated(), "federated", now)
        if not self._settings.client_secret:
            raise CredentialUnavailable("no client secret: set CALENDAR_MSGRAPH_CLIENT_SECRET or "
                                        "CALENDAR_MSGRAPH_KEY_VAULT_URL")
        return Material(self._factory.secret(self._settings.client_secret), "setting", now)

    async def _drop(self) -> None:
        """Forget the current credential. It is closed only at shutdown: other requests may be inside
        its ``get_token`` right now, and closing its HTTP session under them would leave them hanging."""
        material, self._material = self._material, None
        if material is not None:
            self._retired.append(material.credential)

    def _unavailable(self, exc: BaseException) -> CredentialUnavailable:
        code = entra_code(exc) or type(exc).__name__
        return CredentialUnavailable(
            f"Entra refused the {self.kind} credential ({code}{_EXPLAIN.get(code, '')}); {self.fix()}")

    def fix(self) -> str:
        """What a person must do when no credential works."""
        credential = self._settings.credential
        vault = credential.key_vault_url
        if self.kind == "federated":
            return ("check the app registration's federated credential (issuer, subject = the managed identity's "
                    "principal id, audience api://AzureADTokenExchange) and AZURE_CLIENT_ID")
        if self.kind == "certificate":
            return (f"upload a new certificate in Entra admin center > App registrations > the app > Certificates & "
                    f"secrets > Certificates, and put it with its private key into Key Vault {vault} as secret "
                    f"'{credential.certificate_name}' (PEM)")
        where = (f"put it into Key Vault {vault} as a new version of secret '{credential.client_secret_name}' "
                 f"(az keyvault secret set --vault-name <vault> --name {credential.client_secret_name} --value ...)"
                 if vault else "set CALENDAR_MSGRAPH_CLIENT_SECRET to it")
        return ("create a new client secret in Entra admin center > App registrations > the app > Certificates & "
                f"secrets, and {where}; the connector picks it up within minutes, no restart")


_EXPLAIN = {
    "AADSTS7000215": ": invalid client secret",
    "AADSTS7000222": ": the client secret has expired",
    "AADSTS700027": ": the certificate is not registered on the app or its signature is invalid",
    "AADSTS700024": ": the client assertion is not within its valid time range",
    "AADSTS70021": ": no matching federated identity record",
    "AADSTS7000112": ": the application is disabled",
}
