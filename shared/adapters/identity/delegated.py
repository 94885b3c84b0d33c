"""``TokenAuthority`` over MSAL for Python: Entra's authorization code flow with PKCE
(``initiate_auth_code_flow`` / ``acquire_token_by_auth_code_flow``) and silent refresh
(``acquire_token_silent_with_error``) on a ConfidentialClientApplication.

MSAL is synchronous: every call runs in a worker thread. Each call gets its own application object holding only
the one person's token cache (deserialized from, and serialized back to, the caller's string), so caches of
different people never mix; the discovery documents are shared through one ``http_cache`` (MSAL keeps them a
day). The app proves itself as the Graph credential does: the client secret (setting or Key Vault), the
certificate in Key Vault, or a federated managed identity assertion. Tokens never reach a log line or an error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from shared.app.ports.credentials import SecretStore
from shared.app.ports.people import AuthorizeRequest, Redemption, SilentToken
from shared.config import DEFAULT_AUTH_ENDPOINT, Settings
from shared.domain.people.connections import DELEGATED_SCOPES, GRAPH_RESOURCE
from shared.errors import ConfigurationError, TransientError

__all__ = ["MsalTokenAuthority", "client_credential"]

logger = logging.getLogger(__name__)

ClientCredential = Callable[[], Awaitable[Any]]


def client_credential(settings: Settings, secrets: SecretStore | None) -> ClientCredential:
    """How MSAL's confidential client proves the app, by ``CALENDAR_MSGRAPH_CREDENTIAL``."""
    kind = settings.credential.kind

    async def resolve() -> Any:
        now = datetime.now(UTC)
        if kind == "secret":
            if settings.client_secret:
                return settings.client_secret
            if secrets is not None:
                return (await secrets.current(settings.credential.client_secret_name, now)).value
            raise ConfigurationError("CALENDAR_MSGRAPH_CLIENT_SECRET", "is required to connect people")
        if kind == "certificate":
            if secrets is None:
                raise ConfigurationError("CALENDAR_MSGRAPH_KEY_VAULT_URL", "is required for the certificate")
            from shared.domain.credentials.certificates import load_certificate

            version = await secrets.current(settings.credential.certificate_name, now)
            loaded = load_certificate(version.value, version.content_type)
            return {"private_key": loaded.pem.decode("ascii"), "thumbprint": loaded.thumbprint_hex}
        from azure.identity.aio import ManagedIdentityCredential

        from shared.adapters.identity.factory import FEDERATION_AUDIENCE

        extra: dict[str, Any] = {"connection_verify": settings.ca_file} if settings.ca_file else {}
        async with ManagedIdentityCredential(client_id=settings.managed_identity_client_id, **extra) as identity:
            return {"client_assertion": (await identity.get_token(FEDERATION_AUDIENCE)).token}

    return resolve


class MsalTokenAuthority:
    def __init__(self, settings: Settings, credential: ClientCredential, tenant: str | None = None) -> None:
        """Entra of the settings' directory, or of ``tenant``'s (a person of another tenant signs in there)."""
        if not (settings.tenant_id and settings.client_id):
            raise ConfigurationError("CALENDAR_MSGRAPH_CLIENT_ID", "and CALENDAR_MSGRAPH_TENANT_GUID are required"
                                     " to connect people")
        # MSAL's token cache logs each token request at DEBUG with the authorization code and the PKCE verifier
        # unredacted: its logger stays at INFO whatever the root level is.
        logging.getLogger("msal.token_cache").setLevel(logging.INFO)
        self._settings = settings
        self._credential = credential
        self._authority = f"{settings.auth_endpoint}/{tenant or settings.tenant_id}"
        self._http_cache: dict[Any, Any] = {}
        self._session: Any = None

    def _http(self) -> Any:
        if self._session is None:
            import requests

            session = requests.Session()
            if self._settings.ca_file:
                session.verify = self._settings.ca_file
                session.trust_env = False  # REQUESTS_CA_BUNDLE would override the simulator's CA
            self._session = session
        return self._session

    def _app(self, client_credential: Any, cache: Any = None) -> Any:
        import msal

        return msal.ConfidentialClientApplication(
            self._settings.client_id, client_credential=client_credential, authority=self._authority,
            token_cache=cache, http_client=self._http(), http_cache=self._http_cache,
            # Instance discovery asks login.microsoftonline.com about the host: only for Entra's own host.
            instance_discovery=self._settings.auth_endpoint == DEFAULT_AUTH_ENDPOINT)

    async def _run(self, call: Callable[[], Any], what: str) -> Any:
        try:
            return await asyncio.to_thread(call)
        except (ConfigurationError, TransientError):
            raise
        except ValueError as exc:  # MSAL: the flow or response does not match (state, nonce)
            logger.warning("%s refused by MSAL: %s", what, type(exc).__name__)
            return {"error": "invalid_request", "error_description": "the answer does not match the flow"}
        except Exception as exc:  # requests' connection errors and the like: Entra unreachable
            raise TransientError(f"Entra unreachable for {what}: {type(exc).__name__}") from None

    async def begin(self, user: str, state: str, redirect_uri: str) -> AuthorizeRequest:
        credential = await self._resolve()
        flow = await self._run(lambda: self._app(credential).initiate_auth_code_flow(
            list(DELEGATED_SCOPES), redirect_uri=redirect_uri, state=state, login_hint=user,
            response_mode="form_post"), "the authorize request")
        return AuthorizeRequest(url=str(flow["auth_uri"]), flow=dict(flow))

    async def redeem(self, flow: dict[str, Any], response: dict[str, str]) -> Redemption:
        import msal

        credential = await self._resolve()
        cache = msal.SerializableTokenCache()
        result = await self._run(lambda: self._app(credential, cache).acquire_token_by_auth_code_flow(
            flow, dict(response), scopes=list(DELEGATED_SCOPES)), "the code redemption")
        if not isinstance(result, dict) or "error" in result or "access_token" not in result:
            result = result if isinstance(result, dict) else {}
            return Redemption(error=str(result.get("error") or "invalid_grant"),
                              error_description=str(result.get("error_description") or ""))
        claims = result.get("id_token_claims") or {}
        accounts = list(cache.search(msal.TokenCache.CredentialType.ACCOUNT))
        account = str(accounts[0].get("home_account_id", "")) if accounts else ""
        return Redemption(username=str(claims.get("preferred_username") or claims.get("email") or ""),
                          object_id=str(claims.get("oid") or ""), account=account,
                          scopes=tuple(str(result.get("scope") or "").split()), cache=cache.serialize())

    async def silent(self, cache: str, account: str) -> SilentToken:
        import msal

        credential = await self._resolve()
        token_cache = msal.SerializableTokenCache()
        token_cache.deserialize(cache)

        def call() -> Any:
            app = self._app(credential, token_cache)
            found = app.get_accounts()
            chosen = next((a for a in found if a.get("home_account_id") == account), found[0] if found else None)
            if chosen is None:
                return None
            return app.acquire_token_silent_with_error(list(DELEGATED_SCOPES), chosen)

        result = await self._run(call, "the token refresh")
        if result is None:
            return SilentToken(error="no_account", error_description="no account or refresh token in the cache")
        if "error" in result or "access_token" not in result:
            return SilentToken(error=str(result.get("error") or "invalid_grant"),
                               error_description=str(result.get("error_description") or ""))
        expires_in = int(result.get("expires_in") or 0)
        return SilentToken(token=str(result["access_token"]),
                           expires_on=int(datetime.now(UTC).timestamp()) + expires_in,
                           cache=token_cache.serialize() if token_cache.has_state_changed else None)

    def admin_consent_url(self, redirect_uri: str) -> str:
        query = urlencode({"client_id": self._settings.client_id, "redirect_uri": redirect_uri,
                           "scope": " ".join(f"{GRAPH_RESOURCE}/{s}" for s in DELEGATED_SCOPES)})
        return f"{self._authority}/v2.0/adminconsent?{query}"

    async def _resolve(self) -> Any:
        return await self._credential()  # CredentialUnavailable / ConfigurationError name the fix

    async def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
