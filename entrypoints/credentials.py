"""Credential triggers: the rotation timer and the operator API under manage/credentials.
Thin: decode → one call → encode."""

from __future__ import annotations

import logging

import azure.functions as func

from entrypoints._bindings import note_past_due
from entrypoints._bindings import to_http_response as _http
from entrypoints._deps import container
from entrypoints._operator import manage_route
from shared.app.credentials import tenants as manage
from shared.app.credentials.tenants import rotate_all
from shared.app.responses import problem

bp = func.Blueprint()
logger = logging.getLogger(__name__)


@bp.function_name("rotate_credentials")
@bp.timer_trigger(arg_name="timer", schedule="%CALENDAR_MSGRAPH_ROTATE_SCHEDULE%", use_monitor=True)
async def rotate_credentials(timer: func.TimerRequest) -> None:
    note_past_due(timer, "credential rotation", logger)
    for each in await rotate_all((await container()).tenant_credentials()):
        logger.info("credential rotation of %s: %s (%s)", f"tenant {each.tenant}" if each.tenant else
                    "the default tenant", each.outcome.action, each.outcome.detail)


@bp.function_name("manage_credentials")
@manage_route(bp, "manage/credentials", ["GET"])
async def manage_credentials(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await manage.credential_status_in(req.params.get("tenant"), (await container()).tenant_credentials()))


@bp.function_name("manage_credentials_rotate")
@manage_route(bp, "manage/credentials/rotate", ["POST"])
async def manage_credentials_rotate(req: func.HttpRequest) -> func.HttpResponse:
    revoke_old = (req.params.get("revokeOld") or "false").lower()
    if revoke_old not in ("true", "false"):  # a typo must not mean "keep the leaked credential"
        return _http(problem(400, "Invalid revokeOld", f"revokeOld must be true or false, not {revoke_old!r}"))
    return _http(await manage.rotate_now_in(req.params.get("tenant"), (await container()).tenant_credentials(),
                                            revoke_old=revoke_old == "true"))
