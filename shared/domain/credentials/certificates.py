"""Pure certificate helpers (cryptography, PyJWT): a new self-signed certificate, loading the one in Key
Vault (PEM or PKCS#12), and the proof-of-possession JWT that authorises ``addKey``/``removeKey``.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

__all__ = ["GRAPH_AAD_AUDIENCE", "LoadedCertificate", "generate_certificate", "load_certificate",
           "proof_of_possession"]

# Proof-of-possession audience: the AAD Graph application id, as Microsoft's rolling-keys guide says.
GRAPH_AAD_AUDIENCE = "00000002-0000-0000-c000-000000000000"
PEM_CONTENT_TYPE = "application/x-pem-file"
PKCS12_CONTENT_TYPE = "application/x-pkcs12"
PROOF_LIFETIME = timedelta(minutes=10)


@dataclass(frozen=True)
class LoadedCertificate:
    """A certificate with its private key. ``pem`` (key + certificate) is secret: never log it."""

    pem: bytes = field(repr=False)
    private_key: Any = field(repr=False)
    certificate: Any
    not_before: datetime
    not_after: datetime

    @property
    def der(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import Encoding

        return bytes(self.certificate.public_bytes(Encoding.DER))

    @property
    def public_key_base64(self) -> str:
        """The public part as ``keyCredential.key`` wants it: base64 of the DER certificate."""
        return base64.b64encode(self.der).decode("ascii")

    @property
    def thumbprint_hex(self) -> str:
        """SHA-1 thumbprint in hex, upper case: Graph's ``customKeyIdentifier`` of the key credential."""
        return hashlib.sha1(self.der, usedforsecurity=False).hexdigest().upper()

    @property
    def x5t(self) -> str:
        return base64.urlsafe_b64encode(hashlib.sha1(self.der, usedforsecurity=False).digest()).decode().rstrip("=")


def generate_certificate(common_name: str, now: datetime, lifetime_days: int) -> LoadedCertificate:
    """A new RSA-2048 key pair and a self-signed certificate valid from a few minutes ago."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    not_before = now - timedelta(minutes=5)  # clock skew between us and Entra
    not_after = now + timedelta(days=lifetime_days)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()) + certificate.public_bytes(serialization.Encoding.PEM)
    return LoadedCertificate(pem, key, certificate, certificate.not_valid_before_utc, certificate.not_valid_after_utc)


def load_certificate(value: str | bytes, content_type: str | None = None) -> LoadedCertificate:
    """A Key Vault secret holding a certificate: PEM text, or base64 PKCS#12 (Key Vault's certificate
    secrets are that, with content type ``application/x-pkcs12``). Raises ``ValueError`` without the value."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    raw = value.encode("utf-8") if isinstance(value, str) else value
    try:
        if b"-----BEGIN" in raw and content_type != PKCS12_CONTENT_TYPE:
            key = serialization.load_pem_private_key(raw, password=None)
            certificate = x509.load_pem_x509_certificate(raw[raw.index(b"-----BEGIN CERTIFICATE"):])
        else:
            loaded_key, loaded_certificate, _ = pkcs12.load_key_and_certificates(base64.b64decode(raw), None)
            if loaded_key is None or loaded_certificate is None:
                raise ValueError("no key")
            key, certificate = loaded_key, loaded_certificate
    except Exception:
        raise ValueError("the secret is not a PEM or PKCS#12 certificate with its private key") from None
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()) + certificate.public_bytes(serialization.Encoding.PEM)
    return LoadedCertificate(pem, key, certificate, certificate.not_valid_before_utc, certificate.not_valid_after_utc)


def proof_of_possession(signer: LoadedCertificate, application_object_id: str, now: datetime) -> str:
    """The JWT ``addKey``/``removeKey`` want: signed (RS256) by a certificate already on the app."""
    import jwt

    issued = int(now.timestamp())
    claims = {"aud": GRAPH_AAD_AUDIENCE, "iss": application_object_id, "nbf": issued,
              "exp": issued + int(PROOF_LIFETIME.total_seconds()), "jti": str(uuid.uuid4())}
    return jwt.encode(claims, signer.private_key, algorithm="RS256", headers={"x5t": signer.x5t})
