"""Application credentials as Entra keeps them (data only): passwords, certificates, federated
identity credentials, owners, the application object, managed identities; and their Graph shapes.

``public()`` views never carry a secret value.
"""

from __future__ import annotations

import base64
import secrets
import string
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

# The audience Entra uses for token exchange, and the app id it stands for in v1 tokens.
EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
EXCHANGE_APP_ID = "fb60f99c-7a34-4190-8149-302f77469936"
DEFAULT_PASSWORD_LIFETIME = timedelta(days=730)  # addPassword's default: start + 2 years
_SECRET_ALPHABET = string.ascii_letters + string.digits + "~._-"


class CredentialError(Exception):
    """A lookup that failed (unknown app, key id...): the caller turns it into its own shape."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def b64url_nopad(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def new_secret_text() -> str:
    # Shape of Entra's generated secrets: 40 characters, "Q~" after a 3-character prefix.
    head = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(3))
    return head + "8Q~" + "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(34))


def load_certificate(data: bytes | str) -> x509.Certificate:
    """PEM text, DER bytes, or base64 DER (what addKey's ``key`` carries)."""
    raw = data.encode() if isinstance(data, str) else data
    if b"-----BEGIN CERTIFICATE-----" in raw:
        return x509.load_pem_x509_certificate(raw)
    try:
        return x509.load_der_x509_certificate(raw)
    except ValueError:
        return x509.load_der_x509_certificate(base64.b64decode(raw, validate=True))


@dataclass
class Password:
    key_id: str
    secret: str = field(repr=False)
    display_name: str | None
    start: datetime
    end: datetime
    usable_at: float  # time.time() from which the token endpoint accepts it (propagation delay)
    created_by_addpassword: bool = False

    def public(self) -> dict[str, Any]:
        return {"customKeyIdentifier": None, "displayName": self.display_name,
                "endDateTime": iso(self.end), "hint": self.secret[:3], "keyId": self.key_id,
                "secretText": None, "startDateTime": iso(self.start)}


@dataclass
class Key:
    key_id: str
    certificate: x509.Certificate = field(repr=False)
    display_name: str | None
    start: datetime
    end: datetime
    type: str = "AsymmetricX509Cert"
    usage: str = "Verify"

    @property
    def sha1(self) -> bytes:
        return self.certificate.fingerprint(hashes.SHA1())  # the thumbprint, not a security use

    @property
    def sha256(self) -> bytes:
        return self.certificate.fingerprint(hashes.SHA256())

    def matches_thumbprint(self, x5t: str | None, x5t_s256: str | None) -> bool:
        # azure-identity pads its base64url thumbprints; Entra's own samples do not.
        if x5t_s256 and x5t_s256.rstrip("=") == b64url_nopad(self.sha256):
            return True
        return bool(x5t) and x5t.rstrip("=") == b64url_nopad(self.sha1)

    def valid_at(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def public(self) -> dict[str, Any]:
        return {"customKeyIdentifier": self.sha1.hex().upper(), "displayName": self.display_name,
                "endDateTime": iso(self.end), "key": None, "keyId": self.key_id,
                "startDateTime": iso(self.start), "type": self.type, "usage": self.usage}


@dataclass
class FederatedCredential:
    id: str
    name: str
    issuer: str
    subject: str
    audiences: list[str]
    description: str | None = None

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "issuer": self.issuer, "subject": self.subject,
                "audiences": list(self.audiences), "description": self.description}


@dataclass
class Owner:
    id: str
    type: str  # "servicePrincipal" or "user"
    app_id: str | None = None
    display_name: str | None = None

    def public(self) -> dict[str, Any]:
        body: dict[str, Any] = {"@odata.type": f"#microsoft.graph.{self.type}", "id": self.id,
                                "displayName": self.display_name}
        if self.type == "servicePrincipal":
            body |= {"appId": self.app_id, "servicePrincipalType": "Application"}
        return body


@dataclass
class Registration:
    """The application object of an app (the service principal id is ``App.object_id``)."""

    client_id: str
    object_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    display_name: str = "Calendar Connector"
    passwords: list[Password] = field(default_factory=list)
    keys: list[Key] = field(default_factory=list)
    federated: list[FederatedCredential] = field(default_factory=list)
    owners: list[Owner] = field(default_factory=list)
    password_delay: float = 0.0

    def public(self) -> dict[str, Any]:
        return {"id": self.object_id, "appId": self.client_id, "displayName": self.display_name,
                "passwordCredentials": [p.public() for p in self.passwords],
                "keyCredentials": [k.public() for k in self.keys]}


@dataclass
class ManagedIdentity:
    client_id: str
    principal_id: str
    tenant_id: str
    resource_id: str | None = None
    system_assigned: bool = False



def certificate_der_b64(cert: x509.Certificate) -> str:
    """What addKey's ``keyCredential.key`` carries: the public certificate, DER, base64."""
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
