"""Control API for people's availability (tests and the local stack)::

    GET /_sim/users/{upn}/working-hours                  → Graph's workingHours JSON
    PUT /_sim/users/{upn}/working-hours                  {"daysOfWeek"?, "startTime"?, "endTime"?, "timeZone"?}
        any of them; timeZone a Windows or IANA name, or a customTimeZone object; → the new workingHours
    POST /_sim/people/tokens                             {"user", "clientId"?, "scopes"?, "expiresIn"?}
        → 201 {"access_token", "token_type", "expires_in"}: a delegated Graph token as Entra issues one to an app
        a person signed in to (``scp`` the scopes, default Calendars.ReadWrite User.Read; ``upn``, ``oid`` the
        person), for tests that stand in for a delegated connection.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .auth import GRAPH_AUDIENCE, Signer
from .errors import GraphError
from .state import SimState

DEFAULT_SCOPES = ("Calendars.ReadWrite", "User.Read")


def _bad(message: str, status: int = 400) -> Response:
    return JSONResponse({"error": {"code": "BadRequest", "message": message}}, status_code=status)


async def _body(request: Request) -> dict[str, Any]:
    data = json.loads(await request.body() or b"{}")
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def build_routes(state: SimState, signer: Signer) -> list[Route]:
    async def working_hours(request: Request) -> Response:
        upn = request.path_params["upn"]
        try:
            if request.method == "PUT":
                return JSONResponse(state.set_working_hours(upn, **await _body(request)))
            return JSONResponse(state.working_hours_of(upn))
        except GraphError as err:
            return _bad(err.message, 404 if err.status == 404 else 400)
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))

    async def delegated_token(request: Request) -> Response:
        try:
            body = await _body(request)
            user = state.find_user(str(body["user"]))
            scopes = [str(s) for s in body.get("scopes", DEFAULT_SCOPES)]
            lifetime = int(body.get("expiresIn", state.token_lifetime))
        except (ValueError, KeyError, TypeError) as exc:
            return _bad(f"invalid request: {exc}")
        if user is None:
            return _bad(f"no user {body['user']}", 404)
        apps = list(state.apps.values())
        # Without a clientId: the app registered first (the connector's, in the local stack and the tests).
        app = state.apps.get(str(body.get("clientId"))) if body.get("clientId") else (apps[0] if apps else None)
        if app is None:
            return _bad("name the clientId of a registered app")
        now = int(time.time())
        base = f"{request.url.scheme}://{request.url.netloc}"
        claims = {
            "aud": GRAPH_AUDIENCE, "iss": f"{base}/{app.tenant_id}/v2.0", "iat": now, "nbf": now,
            "exp": now + lifetime, "tid": app.tenant_id, "appid": app.client_id, "azp": app.client_id,
            "oid": user["id"], "sub": uuid.uuid5(uuid.NAMESPACE_URL, user["id"] + app.client_id).hex,
            "upn": user["userPrincipalName"], "preferred_username": user["userPrincipalName"],
            "scp": " ".join(scopes), "idtyp": "user", "uti": uuid.uuid4().hex, "ver": "1.0",
        }
        return JSONResponse({"access_token": signer.issue(claims), "token_type": "Bearer", "expires_in": lifetime},
                            status_code=201)

    return [
        Route("/_sim/users/{upn}/working-hours", working_hours, methods=["GET", "PUT"]),
        Route("/_sim/people/tokens", delegated_token, methods=["POST"]),
    ]
