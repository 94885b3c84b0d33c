from __future__ import annotations

import base64
from datetime import UTC, datetime

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import NoEncryption, pkcs12

from shared.domain.credentials.certificates import (
    GRAPH_AAD_AUDIENCE,
    generate_certificate,
    load_certificate,
    proof_of_possession,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_a_new_certificate_is_self_signed_and_lives_as_long_as_asked() -> None:
    cert = generate_certificate("calendar-connector test", NOW, 180)
    assert (cert.not_after - NOW).days == 180
    assert cert.not_before < NOW
    assert cert.certificate.issuer == cert.certificate.subject
    assert len(cert.thumbprint_hex) == 40


def test_pem_and_pkcs12_load_to_the_same_certificate() -> None:
    cert = generate_certificate("x", NOW, 30)
    from_pem = load_certificate(cert.pem.decode())
    p12 = pkcs12.serialize_key_and_certificates(b"x", cert.private_key, cert.certificate, None, NoEncryption())
    from_p12 = load_certificate(base64.b64encode(p12).decode(), "application/x-pkcs12")
    assert from_pem.thumbprint_hex == from_p12.thumbprint_hex == cert.thumbprint_hex


def test_a_secret_that_is_no_certificate_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError) as caught:
        load_certificate("not-a-certificate-but-a-secret-value")
    assert "secret-value" not in str(caught.value)


def test_the_proof_of_possession_is_what_addkey_wants() -> None:
    cert = generate_certificate("x", NOW, 30)
    proof = proof_of_possession(cert, "app-object-id", NOW)
    header = jwt.get_unverified_header(proof)
    assert header["alg"] == "RS256" and header["x5t"] == cert.x5t
    claims = jwt.decode(proof, cert.certificate.public_key(), algorithms=["RS256"], audience=GRAPH_AAD_AUDIENCE,
                        options={"verify_exp": False, "verify_nbf": False})
    assert claims["iss"] == "app-object-id"
    assert claims["exp"] - claims["nbf"] <= 600
