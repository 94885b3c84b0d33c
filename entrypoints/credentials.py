"""Credential triggers: the rotation timer, the operator API under manage/credentials and the doctor.
Thin: decode → one call → encode."""

from __future__ import annotations

import logging

import azure.functions as func

from entrypoints._http import to_http_response as _http
from shared.app.credentials import status as manage
from shared.app.credentials.rotation import rotate
from shared.app.operator import doctor
from shared.app.responses import problem
from shared.bootstrap import current_services

bp = func.Blueprint()
logger = logging.getLogger(__name__)


@bp.function_name("rotate_credentials")
@bp.timer_trigger(arg_name="timer", schedule="%CALENDAR_MSGRAPH_ROTATE_SCHEDULE%", use_monitor=True)
async def rotate_credentials(timer: func.TimerRequest) -> None:
    if timer.past_due:
        logger.info("credential rotation timer is past due")
    outcome = await rotate((await current_services()).credentials())
    logger.info("credential rotation: %s (%s)", outcome.action, outcome.detail)


@bp.function_name("manage_credentials")
@bp.route(route="manage/credentials", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
async def manage_credentials(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await manage.credential_status(await current_services()))


@bp.function_name("manage_credentials_rotate")
@bp.route(route="manage/credentials/rotate", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
async def manage_credentials_rotate(req: func.HttpRequest) -> func.HttpResponse:
    revoke_old = (req.params.get("revokeOld") or "false").lower()
    if revoke_old not in ("true", "false"):  # a typo must not mean "keep the leaked credential"
        return _http(problem(400, "Invalid revokeOld", f"revokeOld must be true or false, not {revoke_old!r}"))
    return _http(await manage.rotate_now(await current_services(), revoke_old=revoke_old == "true"))


@bp.function_name("manage_doctor")
@bp.route(route="manage/doctor", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
async def manage_doctor(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await doctor.doctor_reply(await current_services(), mailbox=req.params.get("mailbox")))
