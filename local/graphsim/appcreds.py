"""The credential rules of the Entra simulator: which password or certificate is current, owners and
roles, federated identity credentials, and the managed identities of the (simulated) App Service.

No HTTP here: the token endpoint (auth.py, assertions.py), the Graph routes (applications.py) and the
control API (control_creds.py) all go through :class:`CredentialStore`, held by the simulator state
as ``state.creds``. Secret values live here (credmodel.Password) and never leave through ``public``.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509

from .credmodel import (
    DEFAULT_PASSWORD_LIFETIME,
    EXCHANGE_AUDIENCE,
    CredentialError,
    FederatedCredential,
    Key,
    ManagedIdentity,
    Owner,
    Password,
    Registration,
    load_certificate,
    new_secret_text,
    utcnow,
)


class CredentialStore:
    """Every method takes the simulator's lock (handlers and tests run on different threads)."""

    def __init__(self, lock: threading.RLock, apps: dict[str, Any]) -> None:
        self._lock = lock
        self._apps = apps  # SimState.apps: client id -> App (roles, tenant, service principal id)
        self._regs: dict[str, Registration] = {}
        self._identities: dict[str, ManagedIdentity] = {}
        self.identity_header = secrets.token_urlsafe(24)

    # -- registrations
    def register(self, client_id: str, client_secret: str | None) -> Registration:
        """Called by SimState.add_app: the app's passwords become exactly this secret (none if
        empty), as a re-registration did before; keys, federated credentials and owners stay."""
        with self._lock:
            reg = self._regs.setdefault(client_id, Registration(client_id))
            now = utcnow()
            reg.passwords = [] if not client_secret else [Password(
                str(uuid.uuid4()), client_secret, "initial", now - timedelta(minutes=1),
                now + DEFAULT_PASSWORD_LIFETIME, 0.0)]
            return reg

    def registration(self, client_id: str) -> Registration:
        with self._lock:
            reg = self._regs.get(client_id)
            if reg is None:
                raise CredentialError(f"no application with appId '{client_id}'")
            return reg

    def by_object_id(self, object_id: str) -> Registration | None:
        with self._lock:
            return next((r for r in self._regs.values() if r.object_id.lower() == object_id.lower()),
                        None)

    def public(self, client_id: str) -> dict[str, Any]:
        with self._lock:
            reg = self.registration(client_id)
            return reg.public() | {"federatedIdentityCredentials": [f.public() for f in reg.federated],
                                   "owners": [o.public() for o in reg.owners],
                                   "newPasswordDelaySeconds": reg.password_delay}

    # -- passwords
    def add_password(self, client_id: str, *, display_name: str | None = None,
                     start: datetime | None = None, end: datetime | None = None,
                     secret: str | None = None, delay: float | None = None,
                     by_graph: bool = False) -> Password:
        with self._lock:
            reg = self.registration(client_id)
            start = start or utcnow()
            wait = reg.password_delay if delay is None else max(0.0, float(delay))
            pw = Password(str(uuid.uuid4()), secret or new_secret_text(), display_name, start,
                          end or start + DEFAULT_PASSWORD_LIFETIME, time.time() + wait, by_graph)
            reg.passwords.append(pw)
            return pw

    def remove_password(self, client_id: str, key_id: str) -> None:
        with self._lock:
            reg = self.registration(client_id)
            kept = [p for p in reg.passwords if p.key_id.lower() != key_id.lower()]
            if len(kept) == len(reg.passwords):
                raise CredentialError(f"No password credential found with keyId '{key_id}'.")
            reg.passwords = kept

    def expire_password(self, client_id: str, key_id: str | None = None) -> None:
        """End the password (all of them with no key id) a second ago."""
        with self._lock:
            for p in self._select(self.registration(client_id).passwords, key_id):
                p.end = utcnow() - timedelta(seconds=1)

    def revoke_password(self, client_id: str, key_id: str | None = None) -> None:
        with self._lock:
            reg = self.registration(client_id)
            gone = {p.key_id for p in self._select(reg.passwords, key_id)}
            reg.passwords = [p for p in reg.passwords if p.key_id not in gone]

    def set_password_delay(self, client_id: str, seconds: float) -> None:
        with self._lock:
            self.registration(client_id).password_delay = max(0.0, float(seconds))

    def propagate(self, client_id: str) -> None:
        """Let every pending password work now."""
        with self._lock:
            for p in self.registration(client_id).passwords:
                p.usable_at = min(p.usable_at, time.time())

    def check_secret(self, client_id: str, secret: str) -> str:
        """'ok', 'expired' or 'invalid' (unknown, removed, not yet started or propagated)."""
        with self._lock:
            reg = self._regs.get(client_id)
            if reg is None:
                return "invalid"
            found = None
            for p in reg.passwords:
                # Constant time per candidate; the simulator should not teach timing leaks.
                if hmac.compare_digest(secret.encode(), p.secret.encode()):
                    found = p
            # Not propagated yet, or its startDateTime still ahead: Entra says "invalid" for both.
            if found is None or found.usable_at > time.time() or found.start > utcnow():
                return "invalid"
            return "expired" if found.end <= utcnow() else "ok"

    # -- certificates
    def add_key(self, client_id: str, certificate: x509.Certificate | bytes | str, *,
                display_name: str | None = None) -> Key:
        with self._lock:
            reg = self.registration(client_id)
            cert = certificate if isinstance(certificate, x509.Certificate) else load_certificate(certificate)
            key = Key(str(uuid.uuid4()), cert, display_name or cert.subject.rfc4514_string(),
                      cert.not_valid_before_utc, cert.not_valid_after_utc)
            if any(k.sha1 == key.sha1 for k in reg.keys):
                raise CredentialError("A key credential with this certificate already exists on the "
                                      "application.")
            reg.keys.append(key)
            return key

    def remove_key(self, client_id: str, key_id: str) -> None:
        with self._lock:
            reg = self.registration(client_id)
            kept = [k for k in reg.keys if k.key_id.lower() != key_id.lower()]
            if len(kept) == len(reg.keys):
                raise CredentialError(f"No key credential found with keyId '{key_id}'.")
            reg.keys = kept

    def expire_key(self, client_id: str, key_id: str | None = None) -> None:
        with self._lock:
            for k in self._select(self.registration(client_id).keys, key_id):
                k.end = utcnow() - timedelta(seconds=1)

    def revoke_key(self, client_id: str, key_id: str | None = None) -> None:
        with self._lock:
            reg = self.registration(client_id)
            gone = {k.key_id for k in self._select(reg.keys, key_id)}
            reg.keys = [k for k in reg.keys if k.key_id not in gone]

    def find_key(self, client_id: str, x5t: str | None, x5t_s256: str | None) -> Key | None:
        with self._lock:
            reg = self._regs.get(client_id)
            return next((k for k in reg.keys if k.matches_thumbprint(x5t, x5t_s256)), None) if reg else None

    # -- owners, roles
    def add_owner(self, client_id: str, *, owner_client_id: str | None = None,
                  user: dict[str, Any] | None = None) -> Owner:
        """An app's service principal (``owner_client_id``, may be the app itself) or a user."""
        with self._lock:
            reg = self.registration(client_id)
            if owner_client_id is not None:
                app = self._apps.get(owner_client_id)
                if app is None:
                    raise CredentialError(f"no application with appId '{owner_client_id}'")
                owner_reg = self._regs.get(owner_client_id)
                owner = Owner(app.object_id, "servicePrincipal", owner_client_id,
                              owner_reg.display_name if owner_reg else owner_client_id)
            elif user is not None:
                owner = Owner(user["id"], "user", None, user.get("displayName"))
            else:
                raise CredentialError("an owner needs a clientId or a user")
            if all(o.id != owner.id for o in reg.owners):
                reg.owners.append(owner)
            return owner

    def is_owner(self, client_id: str, principal_id: str) -> bool:
        with self._lock:
            reg = self._regs.get(client_id)
            return bool(reg) and any(o.id.lower() == principal_id.lower() for o in reg.owners)

    def grant_roles(self, client_id: str, roles: list[str], *, replace: bool = False) -> list[str]:
        with self._lock:
            app = self._apps.get(client_id)
            if app is None:
                raise CredentialError(f"no application with appId '{client_id}'")
            app.roles = list(roles) if replace else [*app.roles, *(r for r in roles if r not in app.roles)]
            return list(app.roles)

    # -- federated identity credentials
    def add_federated(self, client_id: str, *, issuer: str, subject: str,
                      audiences: list[str] | None = None, name: str | None = None,
                      description: str | None = None) -> FederatedCredential:
        with self._lock:
            reg = self.registration(client_id)
            if len(reg.federated) >= 20:
                raise CredentialError("An application can have at most 20 federated identity credentials.")
            fic = FederatedCredential(str(uuid.uuid4()), name or f"fic-{len(reg.federated) + 1}", issuer,
                                      subject, list(audiences or [EXCHANGE_AUDIENCE]), description)
            if any(f.name == fic.name for f in reg.federated):
                raise CredentialError(f"A federated identity credential named '{fic.name}' already exists.")
            reg.federated.append(fic)
            return fic

    def remove_federated(self, client_id: str, name_or_id: str) -> None:
        with self._lock:
            reg = self.registration(client_id)
            reg.federated = [f for f in reg.federated if name_or_id not in (f.name, f.id)]

    def federated(self, client_id: str) -> list[FederatedCredential]:
        with self._lock:
            reg = self._regs.get(client_id)
            return list(reg.federated) if reg else []

    # -- managed identities (the hosting platform's side)
    def add_managed_identity(self, client_id: str, tenant_id: str, *, principal_id: str | None = None,
                             resource_id: str | None = None,
                             system_assigned: bool = False) -> ManagedIdentity:
        with self._lock:
            mi = ManagedIdentity(client_id, principal_id or str(uuid.uuid4()), tenant_id, resource_id,
                                 system_assigned)
            self._identities[client_id.lower()] = mi
            return mi

    def find_managed_identity(self, *, client_id: str | None = None, principal_id: str | None = None,
                              resource_id: str | None = None) -> ManagedIdentity | None:
        with self._lock:
            for mi in self._identities.values():
                if client_id and mi.client_id.lower() == client_id.lower():
                    return mi
                if principal_id and mi.principal_id.lower() == principal_id.lower():
                    return mi
                if resource_id and (mi.resource_id or "").lower() == resource_id.lower():
                    return mi
            if not (client_id or principal_id or resource_id):
                return next((mi for mi in self._identities.values() if mi.system_assigned), None)
            return None

    @staticmethod
    def _select(items: list[Any], key_id: str | None) -> list[Any]:
        if key_id in (None, "", "all", "*"):
            return list(items)
        chosen = [i for i in items if i.key_id.lower() == str(key_id).lower()]
        if not chosen:
            raise CredentialError(f"No credential found with keyId '{key_id}'.")
        return chosen
