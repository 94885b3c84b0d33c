"""SecretStore over azure-keyvault-secrets (aio), reached with the app's managed identity.

``get_secret`` returns the latest version even when it is expired and refuses a disabled one, so the
newest *usable* version is found by listing the versions. The SDK's challenge-resource check stays on,
except for a vault on loopback (the local simulator), which cannot be a ``*.vault.azure.net`` host.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from shared.app.ports.credentials import SecretVersion
from shared.errors import ConfigurationError, CredentialUnavailable, Forbidden, NotFound, PermanentError
from shared.setting_values import is_loopback

__all__ = ["KeyVaultSecretStore", "usable"]

SETTING = "CALENDAR_MSGRAPH_KEY_VAULT_URL"

logger = logging.getLogger(__name__)


def usable(properties: Any, now: datetime) -> bool:
    """Enabled, already valid, not expired (Key Vault's ``expires_on`` is informative only)."""
    if properties.enabled is False:
        return False
    if properties.not_before is not None and properties.not_before > now:
        return False
    return properties.expires_on is None or properties.expires_on > now


class KeyVaultSecretStore:
    def __init__(self, vault_url: str, *, credential: Any = None, managed_identity_client_id: str | None = None,
                 ca_file: str | None = None) -> None:
        self.vault_url = vault_url
        self._credential = credential
        self._owns_credential = credential is None
        self._identity_client_id = managed_identity_client_id
        self._extra: dict[str, Any] = {"connection_verify": ca_file} if ca_file else {}
        self._client: Any = None

    def _secrets(self) -> Any:
        if self._client is None:
            from azure.keyvault.secrets.aio import SecretClient

            if self._credential is None:
                from azure.identity.aio import DefaultAzureCredential

                self._credential = DefaultAzureCredential(managed_identity_client_id=self._identity_client_id,
                                                          **self._extra)
            loopback = is_loopback(urlsplit(self.vault_url).hostname or "")
            self._client = SecretClient(self.vault_url, self._credential, verify_challenge_resource=not loopback,
                                        **self._extra)
        return self._client

    async def current(self, name: str, now: datetime) -> SecretVersion:
        from azure.core.exceptions import HttpResponseError

        client = self._secrets()
        try:
            try:
                secret = await client.get_secret(name)
                if usable(secret.properties, now):
                    return _version(secret)
            except HttpResponseError as exc:
                # The latest version disabled is a 403 too, but one that the older versions may get past.
                if exc.status_code != 403 or "disabled" not in str(exc.message or "").lower():
                    raise
            # The latest version is disabled, expired or not yet valid: take the newest usable one.
            versions = [p async for p in client.list_properties_of_secret_versions(name) if usable(p, now)]
            versions.sort(key=lambda p: (p.created_on or now, p.version or ""), reverse=True)
            for properties in versions:
                secret = await client.get_secret(name, properties.version)
                if usable(secret.properties, now):
                    return _version(secret)
        except CredentialUnavailable:
            raise
        except Exception as exc:
            raise self._unavailable(exc, name) from None
        raise CredentialUnavailable(f"Key Vault secret '{name}' has no enabled, unexpired version")

    async def put(self, name: str, value: str, *, content_type: str, expires_on: datetime | None,
                  tags: Mapping[str, str]) -> SecretVersion:
        client = self._secrets()
        try:
            secret = await client.set_secret(name, value, content_type=content_type, expires_on=expires_on,
                                             tags=dict(tags), enabled=True)
        except Exception as exc:
            error = self._unavailable(exc, name)
            if _status(exc) == 403:
                raise Forbidden(f"{error}; rotation needs the Key Vault Secrets Officer role") from None
            raise error from None
        logger.info("stored a new version %s of Key Vault secret %s", secret.properties.version, name)
        return _version(secret)

    def _unavailable(self, exc: BaseException, name: str) -> CredentialUnavailable:
        """Whatever keeps the secret from being read means no Graph credential (``SecretStore``'s contract):
        the SDK's error is classified as every adapter does (``map_azure_error``), then explained."""
        from azure.core.exceptions import AzureError

        from shared.adapters.azure_errors import map_azure_error

        if not isinstance(exc, AzureError):
            return CredentialUnavailable(f"Key Vault {self.vault_url} unreachable ({type(exc).__name__})")
        error = map_azure_error(exc, f"Key Vault secret '{name}'", setting=SETTING)
        status = _status(exc)
        if isinstance(error, NotFound):
            return CredentialUnavailable(f"Key Vault {self.vault_url} has no secret '{name}'")
        if isinstance(error, ConfigurationError) and status == 403:
            return CredentialUnavailable(
                f"Key Vault {self.vault_url} refused access to secret '{name}' (403): grant the Function App's "
                "managed identity the Key Vault Secrets User role on the vault")
        if isinstance(error, ConfigurationError):
            return CredentialUnavailable(f"Key Vault {self.vault_url} refused the managed identity's token"
                                         + (f" ({status})" if status else f" ({type(exc).__name__})"))
        if isinstance(error, PermanentError) or status is not None:
            return CredentialUnavailable(f"Key Vault {self.vault_url} answered {status} for secret '{name}'")
        return CredentialUnavailable(f"Key Vault {self.vault_url} unreachable ({type(exc).__name__})")

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._owns_credential and self._credential is not None:
            await self._credential.close()
            self._credential = None


def _status(exc: BaseException) -> int | None:
    return getattr(exc, "status_code", None)


def _version(secret: Any) -> SecretVersion:
    properties = secret.properties
    return SecretVersion(name=properties.name, version=properties.version or "", value=secret.value or "",
                         expires_on=properties.expires_on, created_on=properties.created_on,
                         content_type=properties.content_type, tags=dict(properties.tags or {}))
