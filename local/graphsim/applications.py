"""Graph's application credential APIs under /v1.0/applications:

* ``GET /applications(appId='{appId}')`` or ``/applications/{id}``: id, appId, displayName,
  passwordCredentials (hint, never the value), keyCredentials.
* ``POST .../addPassword`` (secretText returned once) and ``.../removePassword``: need
  ``Application.ReadWrite.All``, or ``Application.ReadWrite.OwnedBy`` with the caller's service
  principal among the app's owners; otherwise 403 ``Authorization_RequestDenied``.
* ``POST .../addKey`` and ``.../removeKey``: no directory permission, the caller must be the app itself
  and prove possession of a certificate already on the app (JWT RS256/PS256 with ``x5t``,
  aud ``00000002-0000-0000-c000-000000000000``, iss = the application object id, nbf/exp at most
  10 minutes apart). A missing proof answers 403 ``Authorization_RequestDenied``; a bad one 401
  ``Authentication_MissingOrMalformed`` (what Graph answers, per reported cases).
* ``GET .../owners``, ``GET|POST .../federatedIdentityCredentials``.

Mounted ahead of the Graph pipeline (app.py); it does its own token check, scripted faults
(``/_sim/faults`` with pathContains) and request logging.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import jwt
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .auth import Signer, TokenError
from .credmodel import CredentialError, Registration, load_certificate, parse_iso, utcnow
from .errors import GraphError, error_body, graph_error_response, json_response
from .state import SimState

PROOF_AUDIENCE = "00000002-0000-0000-c000-000000000000"
_PATH = re.compile(
    r"(?:\(appId='(?P<app_id>[^']+)'\)|/(?P<object_id>[0-9a-fA-F-]{36}))"
    r"(?:/(?:microsoft\.graph\.)?(?P<action>addPassword|removePassword|addKey|removeKey|owners|"
    r"federatedIdentityCredentials))?/?", re.I)
_READ = {"Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
_WRITE_ALL = "Application.ReadWrite.All"
_OWNED_BY = "Application.ReadWrite.OwnedBy"


def _denied() -> GraphError:
    return GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


def _bad(message: str) -> GraphError:
    return GraphError(400, "Request_BadRequest", message)


def _body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise GraphError(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type "
                                            "header is set and payload is of valid JSON format.")
    return body


class ApplicationsApi:
    def __init__(self, state: SimState, signer: Signer) -> None:
        self.state = state
        self.signer = signer

    def routes(self) -> list[Route]:
        return [Route("/v1.0/applications{rest:path}", self.handle,
                      methods=["GET", "POST", "PATCH", "DELETE"])]

    async def handle(self, request: Request) -> Response:
        ids = (str(uuid.uuid4()), request.headers.get("client-request-id") or str(uuid.uuid4()))
        entry = {"method": request.method, "path": request.scope["path"], "query": request.url.query,
                 "mailbox": None, "status": None, "at": datetime.now(UTC).isoformat(), "requestId": ids[0]}
        try:
            claims = self._authenticate(request)
            fault = self.state.take_fault("before", request.method, request.scope["path"], None)
            if fault is not None:
                headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
                response = json_response(fault.status, error_body(fault.error_code, fault.message, *ids),
                                         headers)
            else:
                response = await self._dispatch(request, claims)
        except GraphError as err:
            response = graph_error_response(err, *ids)
        response.headers["request-id"], response.headers["client-request-id"] = ids
        entry["status"] = response.status_code
        self.state.log_request(entry)
        return response

    def _authenticate(self, request: Request) -> dict[str, Any]:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        try:
            claims = self.signer.verify(token.strip())
        except TokenError as exc:
            raise GraphError(401, "InvalidAuthenticationToken", exc.message) from exc
        app = self.state.apps.get(str(claims.get("appid")))
        if app is None or app.tenant_id.lower() != str(claims.get("tid", "")).lower():
            raise GraphError(401, "InvalidAuthenticationToken", "The application or tenant of this token is unknown.")
        return claims

    def _target(self, rest: str) -> tuple[Registration, str]:
        m = _PATH.fullmatch(rest)
        if m is None:
            raise _bad(f"Resource not found for the segment '{rest.strip('/').split('/')[-1]}'.")
        reg: Registration | None
        if m["app_id"]:
            try:
                reg = self.state.creds.registration(m["app_id"])
            except CredentialError:
                reg = None
        else:
            reg = self.state.creds.by_object_id(m["object_id"])
        if reg is None:
            key = m["app_id"] or m["object_id"]
            raise GraphError(404, "Request_ResourceNotFound", f"Resource '{key}' does not exist or one of its "
                                                              "queried reference-property objects are not present.")
        return reg, (m["action"] or "").lower()

    def _may_write(self, claims: dict[str, Any], reg: Registration) -> bool:
        roles = set(claims.get("roles") or [])
        return _WRITE_ALL in roles or (
            _OWNED_BY in roles and self.state.creds.is_owner(reg.client_id, str(claims.get("oid", ""))))

    def _may_read(self, claims: dict[str, Any], reg: Registration) -> bool:
        return bool(set(claims.get("roles") or []) & _READ) or self._may_write(claims, reg)

    async def _dispatch(self, request: Request, claims: dict[str, Any]) -> Response:
        reg, action = self._target(request.path_params["rest"])
        base = f"{request.url.scheme}://{request.url.netloc}/v1.0"
        method = request.method
        if action in ("addpassword", "removepassword", "addkey", "removekey") and method != "POST":
            raise GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
        if action in ("addkey", "removekey"):
            return self._keys(reg, action, claims, _body(await request.body()))
        if action in ("addpassword", "removepassword"):
            if not self._may_write(claims, reg):
                raise _denied()
            return self._passwords(reg, action, _body(await request.body()))
        if action == "federatedidentitycredentials" and method == "POST":
            if not self._may_write(claims, reg):
                raise _denied()
            return self._add_federated(reg, _body(await request.body()), base)
        if method != "GET":
            raise GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
        if not self._may_read(claims, reg):
            raise _denied()
        if action == "owners":
            owners = self.state.creds.public(reg.client_id)["owners"]
            return json_response(200, {"@odata.context": f"{base}/$metadata#directoryObjects", "value": owners})
        if action == "federatedidentitycredentials":
            fics = [f.public() for f in self.state.creds.federated(reg.client_id)]
            return json_response(200, {"@odata.context": f"{base}/$metadata#applications('{reg.object_id}')/"
                                                         "federatedIdentityCredentials", "value": fics})
        with_lock = self.state.creds.public(reg.client_id)
        body = {k: with_lock[k] for k in ("id", "appId", "displayName", "passwordCredentials", "keyCredentials")}
        select = {s.strip() for s in request.query_params.get("$select", "").split(",") if s.strip()}
        if select:
            body = {k: v for k, v in body.items() if k in select or k == "id"}
        return json_response(200, {"@odata.context": f"{base}/$metadata#applications/$entity"} | body)

    def _passwords(self, reg: Registration, action: str, body: dict[str, Any]) -> Response:
        if action == "removepassword":
            try:
                self.state.creds.remove_password(reg.client_id, str(body.get("keyId") or ""))
            except CredentialError as exc:
                raise _bad(str(exc)) from exc
            return Response(status_code=204)
        spec = body.get("passwordCredential") or {}
        if not isinstance(spec, dict):
            raise _bad("Invalid passwordCredential.")
        try:
            start = parse_iso(spec["startDateTime"]) if spec.get("startDateTime") else None
            end = parse_iso(spec["endDateTime"]) if spec.get("endDateTime") else None
        except ValueError as exc:
            raise _bad("Invalid value specified for property 'endDateTime' of resource 'PasswordCredential'.") from exc
        if end is not None and end <= (start or utcnow()):
            raise _bad("Key credential end date is invalid.")
        pw = self.state.creds.add_password(reg.client_id, display_name=spec.get("displayName"), start=start,
                                           end=end, by_graph=True)
        return json_response(200, {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#"
                                                     "microsoft.graph.passwordCredential"}
                             | pw.public() | {"secretText": pw.secret})

    def _keys(self, reg: Registration, action: str, claims: dict[str, Any], body: dict[str, Any]) -> Response:
        # Rolling one's own keys needs no permission; someone else's needs write access.
        if str(claims.get("appid")) != reg.client_id and not self._may_write(claims, reg):
            raise _denied()
        proof = body.get("proof")
        if not proof:
            raise _denied()
        self._check_proof(reg, str(proof))
        if action == "removekey":
            try:
                self.state.creds.remove_key(reg.client_id, str(body.get("keyId") or ""))
            except CredentialError as exc:
                raise _bad(str(exc)) from exc
            return Response(status_code=204)
        spec = body.get("keyCredential") or {}
        if not isinstance(spec, dict) or spec.get("type") != "AsymmetricX509Cert" or spec.get("usage") != "Verify":
            raise _bad("Only keyCredential type 'AsymmetricX509Cert' with usage 'Verify' is supported.")
        try:
            cert = load_certificate(str(spec.get("key") or ""))
        except ValueError as exc:
            raise _bad("Invalid certificate: the key credential value is not a base64 DER certificate.") from exc
        try:
            key = self.state.creds.add_key(reg.client_id, cert, display_name=spec.get("displayName"))
        except CredentialError as exc:
            raise _bad(str(exc)) from exc
        return json_response(200, {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#"
                                                     "microsoft.graph.keyCredential"} | key.public())

    def _check_proof(self, reg: Registration, proof: str) -> None:
        malformed = GraphError(401, "Authentication_MissingOrMalformed", "Access Token missing or malformed.")
        try:
            header = jwt.get_unverified_header(proof)
        except jwt.PyJWTError as exc:
            raise malformed from exc
        key = self.state.creds.find_key(reg.client_id, header.get("x5t"), header.get("x5t#S256"))
        if key is None or not key.valid_at(utcnow()):
            raise malformed
        try:
            claims = jwt.decode(proof, key.certificate.public_key(), algorithms=["RS256", "PS256"],  # type: ignore[arg-type]
                                audience=PROOF_AUDIENCE, issuer=reg.object_id, leeway=60,
                                options={"require": ["nbf", "exp", "aud", "iss"]})
        except jwt.PyJWTError as exc:
            raise malformed from exc
        if float(claims["exp"]) - float(claims["nbf"]) > 600 or float(claims["nbf"]) > time.time() + 60:
            raise malformed

    def _add_federated(self, reg: Registration, body: dict[str, Any], base: str) -> Response:
        try:
            fic = self.state.creds.add_federated(
                reg.client_id, issuer=str(body["issuer"]), subject=str(body["subject"]),
                audiences=list(body.get("audiences") or []) or None, name=str(body["name"]),
                description=body.get("description"))
        except KeyError as exc:
            raise _bad(f"Property '{exc.args[0]}' is required.") from exc
        except CredentialError as exc:
            raise _bad(str(exc)) from exc
        context = f"{base}/$metadata#applications('{reg.object_id}')/federatedIdentityCredentials/$entity"
        return json_response(201, {"@odata.context": context} | fic.public())
