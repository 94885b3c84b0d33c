"""Builders for the application-credential tests: apps of their own, certificates, proofs."""

from __future__ import annotations

import base64
import ssl
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from local.graphsim.server import RunningSimulator

from .simdata import TENANT

PROOF_AUDIENCE = "00000002-0000-0000-c000-000000000000"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
VAULT_SCOPE = "https://vault.azure.net/.default"


def new_app(sim: RunningSimulator, roles: list[str] | None = None, secret: str | None = None) -> tuple[str, str]:
    """A fresh app registration (its own client id, so tests don't share credentials)."""
    client_id = str(uuid.uuid4())
    secret = secret if secret is not None else f"initial-{uuid.uuid4().hex}"
    sim.state.add_app(client_id, secret, TENANT, roles)
    return client_id, secret


def ssl_context(sim: RunningSimulator) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(sim.ca_path))


def token_response(sim: RunningSimulator, client_id: str, scope: str = GRAPH_SCOPE, **form: str) -> httpx.Response:
    data = {"grant_type": "client_credentials", "client_id": client_id, "scope": scope} | form
    return httpx.post(f"{sim.auth_endpoint}/{TENANT}/oauth2/v2.0/token", data=data, verify=ssl_context(sim))


def token(sim: RunningSimulator, client_id: str, secret: str, scope: str = GRAPH_SCOPE) -> str:
    response = token_response(sim, client_id, scope, client_secret=secret)
    assert response.status_code == 200, response.json().get("error_codes")
    return str(response.json()["access_token"])


def graph(sim: RunningSimulator, bearer: str) -> httpx.Client:
    return httpx.Client(base_url=sim.graph_endpoint, verify=ssl_context(sim),
                        headers={"Authorization": f"Bearer {bearer}"})


def make_cert(name: str = "connector", *, days: int = 365,
              not_before: datetime | None = None) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = not_before or datetime.now(UTC) - timedelta(minutes=5)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + timedelta(days=days)).sign(key, hashes.SHA256()))
    return key, cert


def pem_with_key(key: rsa.RSAPrivateKey, cert: x509.Certificate) -> bytes:
    """What CertificateCredential(certificate_data=...) takes (and Key Vault would hold as PEM)."""
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
            + cert.public_bytes(serialization.Encoding.PEM))


def der_b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def x5t(cert: x509.Certificate) -> str:
    return base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA1())).decode().rstrip("=")


def proof(key: rsa.RSAPrivateKey, cert: x509.Certificate, object_id: str, *, lifetime: int = 600,
          aud: str = PROOF_AUDIENCE, nbf: float | None = None) -> str:
    """The proof-of-possession JWT addKey/removeKey want (Microsoft's sample, in Python)."""
    start = int(nbf if nbf is not None else time.time())
    claims: dict[str, Any] = {"aud": aud, "iss": object_id, "nbf": start, "exp": start + lifetime}
    return jwt.encode(claims, key, algorithm="RS256", headers={"x5t": x5t(cert)})


def assertion(key: rsa.RSAPrivateKey, cert: x509.Certificate, client_id: str, audience: str, *,
              exp_offset: int = 600) -> str:
    """A certificate client assertion as older clients send it (RS256, x5t)."""
    now = int(time.time())
    claims = {"aud": audience, "iss": client_id, "sub": client_id, "jti": str(uuid.uuid4()),
              "nbf": now - 60 if exp_offset > 0 else now - 7200, "exp": now + exp_offset}
    return jwt.encode(claims, key, algorithm="RS256", headers={"x5t": x5t(cert)})
