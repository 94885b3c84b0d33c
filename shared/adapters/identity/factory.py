"""azure-identity wiring: one async token credential per credential kind, and the token probe that
rotation uses to wait until a new credential works everywhere. Imported lazily (cold start)."""

from __future__ import annotations

import re
from typing import Any, Protocol

from shared.config import Settings

__all__ = ["AzureIdentityFactory", "CredentialFactory", "IdentityTokenProbe", "entra_code", "is_invalid_client"]

FEDERATION_AUDIENCE = "api://AzureADTokenExchange/.default"
# Entra codes that mean "this credential is not (or no longer) valid": follow the vault, then give up.
INVALID_CLIENT_CODES = frozenset({"7000215", "7000222", "700027", "700024", "70021", "7000216", "7000112"})
_CODE = re.compile(r"AADSTS(\d+)")


def entra_code(exc: BaseException) -> str | None:
    found = _CODE.search(str(exc))
    return f"AADSTS{found.group(1)}" if found else None


def is_invalid_client(exc: BaseException) -> bool:
    code = entra_code(exc)
    return "invalid_client" in str(exc) or (code is not None and code[6:] in INVALID_CLIENT_CODES)


class CredentialFactory(Protocol):
    def secret(self, value: str) -> Any: ...

    def certificate(self, pem: bytes) -> Any: ...

    def federated(self) -> Any: ...


class AzureIdentityFactory:
    """Real async credentials against ``CALENDAR_MSGRAPH_AUTH_ENDPOINT``."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._extra: dict[str, Any] = {"connection_verify": settings.ca_file} if settings.ca_file else {}

    def _ids(self) -> tuple[str, str]:
        assert self._settings.tenant_id and self._settings.client_id
        return self._settings.tenant_id, self._settings.client_id

    def secret(self, value: str) -> Any:
        from azure.identity.aio import ClientSecretCredential

        return ClientSecretCredential(*self._ids(), value, authority=self._settings.auth_endpoint, **self._extra)

    def certificate(self, pem: bytes) -> Any:
        from azure.identity.aio import CertificateCredential

        return CertificateCredential(*self._ids(), certificate_data=pem, authority=self._settings.auth_endpoint,
                                     **self._extra)

    def federated(self) -> Any:
        return FederatedCredential(self._settings, self._extra)


class FederatedCredential:
    """Managed identity token for ``api://AzureADTokenExchange`` → client assertion → Graph token of the
    app registration (a federated identity credential on it trusts the user-assigned identity)."""

    def __init__(self, settings: Settings, extra: dict[str, Any]) -> None:
        from azure.identity.aio import ClientAssertionCredential, ManagedIdentityCredential

        assert settings.tenant_id and settings.client_id
        self._identity = ManagedIdentityCredential(client_id=settings.managed_identity_client_id, **extra)
        self._assertion = ""
        # azure-identity calls ``func`` synchronously; it returns the assertion fetched just before.
        self._exchange = ClientAssertionCredential(settings.tenant_id, settings.client_id, func=lambda: self._assertion,
                                                   authority=settings.auth_endpoint, **extra)

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        self._assertion = (await self._identity.get_token(FEDERATION_AUDIENCE)).token
        return await self._exchange.get_token(*scopes, **kwargs)

    async def close(self) -> None:
        await self._exchange.close()
        await self._identity.close()


class IdentityTokenProbe:
    """Asks Entra for a Graph token with a candidate credential (a new password takes a while to work)."""

    def __init__(self, settings: Settings, factory: CredentialFactory) -> None:
        self._scopes = settings.scopes
        self._factory = factory

    async def secret_works(self, secret: str) -> str | None:
        return await self._probe(self._factory.secret(secret))

    async def certificate_works(self, pem: bytes) -> str | None:
        return await self._probe(self._factory.certificate(pem))

    async def _probe(self, credential: Any) -> str | None:
        from azure.core.exceptions import ClientAuthenticationError

        try:
            await credential.get_token(*self._scopes)
            return None
        except ClientAuthenticationError as exc:
            return entra_code(exc) or "invalid_client"
        finally:
            await credential.close()
