"""Certificates: CertificateCredential against registered keys, and an app rolling its own keys with
addKey/removeKey and a proof of possession (no directory permission), forged proofs refused."""

from __future__ import annotations

import jwt
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity.aio import CertificateCredential
from cryptography.hazmat.primitives import hashes

from local.graphsim.server import RunningSimulator

from .credsdata import (
    GRAPH_SCOPE,
    assertion,
    der_b64,
    graph,
    make_cert,
    new_app,
    pem_with_key,
    proof,
    token,
    token_response,
)
from .simdata import TENANT


def _credential(sim: RunningSimulator, client_id: str, key: object, cert: object) -> CertificateCredential:
    return CertificateCredential(TENANT, client_id, certificate_data=pem_with_key(key, cert),  # type: ignore[arg-type]
                                 authority=sim.auth_endpoint, connection_verify=str(sim.ca_path))


async def _outcome(sim: RunningSimulator, client_id: str, key: object, cert: object) -> str:
    async with _credential(sim, client_id, key, cert) as cred:
        try:
            claims = jwt.decode((await cred.get_token(GRAPH_SCOPE)).token, options={"verify_signature": False})
        except ClientAuthenticationError as exc:
            return next(w for w in str(exc).replace(":", " ").split() if w.startswith("AADSTS"))
    assert claims["appid"] == client_id
    return "ok"


def _cert_app(sim: RunningSimulator) -> tuple[str, str, object, object]:
    """An app with no password, one certificate, and an owner-less registration (no permission)."""
    client_id, _ = new_app(sim, roles=["Calendars.ReadWrite"], secret="")
    key, cert = make_cert("current")
    sim.state.creds.add_key(client_id, cert)
    object_id = sim.state.creds.public(client_id)["id"]
    return client_id, object_id, key, cert


async def _bearer(sim: RunningSimulator, client_id: str, key: object, cert: object) -> str:
    async with _credential(sim, client_id, key, cert) as cred:
        return (await cred.get_token(GRAPH_SCOPE)).token


async def test_certificate_credential_gets_tokens_only_with_a_registered_valid_certificate(
        sim: RunningSimulator) -> None:
    client_id, _, key, cert = _cert_app(sim)
    other_key, other_cert = make_cert("stranger")
    assert await _outcome(sim, client_id, key, cert) == "ok"
    assert await _outcome(sim, client_id, other_key, other_cert) == "AADSTS700027"
    sim.state.creds.expire_key(client_id)
    assert await _outcome(sim, client_id, key, cert) == "AADSTS700027"


def test_assertion_checks_follow_entra(sim: RunningSimulator) -> None:
    client_id, _, key, cert = _cert_app(sim)
    audience = f"{sim.auth_endpoint}/{TENANT}/oauth2/v2.0/token"
    bearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

    def codes(signed: str) -> list[int] | None:
        response = token_response(sim, client_id, client_assertion=signed, client_assertion_type=bearer)
        return None if response.status_code == 200 else response.json()["error_codes"]

    assert codes(assertion(key, cert, client_id, audience)) is None  # RS256 + x5t works too
    assert codes(assertion(key, cert, client_id, audience, exp_offset=-3600)) == [700024]
    assert codes(assertion(key, cert, client_id, "https://elsewhere.example/token")) == [700023]
    assert codes(assertion(key, cert, "someone-else", audience)) == [700021]
    forged_key, _ = make_cert("forger")
    assert codes(assertion(forged_key, cert, client_id, audience)) == [700027]  # x5t of ours, key of theirs


async def test_an_app_rolls_its_own_certificate_with_no_permission(sim: RunningSimulator) -> None:
    client_id, object_id, key, cert = _cert_app(sim)
    new_key, new_cert = make_cert("next")
    bearer = await _bearer(sim, client_id, key, cert)
    with graph(sim, bearer) as g:
        added = g.post(f"/applications(appId='{client_id}')/addKey", json={
            "keyCredential": {"type": "AsymmetricX509Cert", "usage": "Verify", "key": der_b64(new_cert),
                              "displayName": "CN=next"},
            "passwordCredential": None, "proof": proof(key, cert, object_id)})
        assert added.status_code == 200, added.text
        assert await _outcome(sim, client_id, new_key, new_cert) == "ok"
        old_key_id = next(k["keyId"] for k in sim.state.creds.public(client_id)["keyCredentials"]
                          if k["keyId"] != added.json()["keyId"])
        removed = g.post(f"/applications(appId='{client_id}')/removeKey", json={
            "keyId": old_key_id, "proof": proof(new_key, new_cert, object_id)})
    assert removed.status_code == 204
    assert await _outcome(sim, client_id, key, cert) == "AADSTS700027"
    (left,) = sim.state.creds.public(client_id)["keyCredentials"]
    assert left["displayName"] == "CN=next" and left["type"] == "AsymmetricX509Cert" and left["usage"] == "Verify"
    assert left["customKeyIdentifier"] == new_cert.fingerprint(hashes.SHA1()).hex().upper()  # the thumbprint


@pytest.mark.parametrize("how", ["forged", "wrong-audience", "wrong-issuer", "too-long", "expired", "missing"])
async def test_a_bad_proof_is_refused(sim: RunningSimulator, how: str) -> None:
    client_id, object_id, key, cert = _cert_app(sim)
    forger_key, _ = make_cert("forger")
    _, new_cert = make_cert("next")
    proofs = {
        "forged": proof(forger_key, cert, object_id),  # claims our certificate, signed by another key
        "wrong-audience": proof(key, cert, object_id, aud="00000003-0000-0000-c000-000000000000"),
        "wrong-issuer": proof(key, cert, client_id),  # the appId instead of the object id
        "too-long": proof(key, cert, object_id, lifetime=3600),
        "expired": proof(key, cert, object_id, nbf=0),
        "missing": None,
    }
    with graph(sim, await _bearer(sim, client_id, key, cert)) as g:
        response = g.post(f"/applications(appId='{client_id}')/addKey", json={
            "keyCredential": {"type": "AsymmetricX509Cert", "usage": "Verify", "key": der_b64(new_cert)},
            "passwordCredential": None, "proof": proofs[how]})
    expected = (403, "Authorization_RequestDenied") if how == "missing" else (401, "Authentication_MissingOrMalformed")
    assert (response.status_code, response.json()["error"]["code"]) == expected
    assert len(sim.state.creds.public(client_id)["keyCredentials"]) == 1


async def test_another_app_without_permission_cannot_roll_these_keys(sim: RunningSimulator) -> None:
    client_id, object_id, key, cert = _cert_app(sim)
    other, other_secret = new_app(sim)
    _, new_cert = make_cert("next")
    with graph(sim, token(sim, other, other_secret)) as g:
        response = g.post(f"/applications(appId='{client_id}')/addKey", json={
            "keyCredential": {"type": "AsymmetricX509Cert", "usage": "Verify", "key": der_b64(new_cert)},
            "passwordCredential": None, "proof": proof(key, cert, object_id)})
    assert response.status_code == 403


async def test_with_every_certificate_expired_add_key_is_impossible(sim: RunningSimulator) -> None:
    client_id, object_id, key, cert = _cert_app(sim)
    admin, admin_secret = new_app(sim, roles=["Application.ReadWrite.All"])  # even an admin needs a proof
    sim.state.creds.expire_key(client_id)
    _, new_cert = make_cert("next")
    with graph(sim, token(sim, admin, admin_secret)) as g:
        response = g.post(f"/applications(appId='{client_id}')/addKey", json={
            "keyCredential": {"type": "AsymmetricX509Cert", "usage": "Verify", "key": der_b64(new_cert)},
            "passwordCredential": None, "proof": proof(key, cert, object_id)})
    assert (response.status_code, response.json()["error"]["code"]) == (401, "Authentication_MissingOrMalformed")
