"""The operator routes' registration: anonymous at the host, an Entra access token checked here first.

The host's key levels cannot express "an operator": ADMIN takes only the master key (which also opens the host's
own admin API) and FUNCTION takes every function key too (the scheduling system's). So every route under
``manage/`` is ANONYMOUS at the host and admitted by ``shared.app.operator.access`` before the trigger runs:
a bearer token with the app role the method needs, else 401 or 403. tests/unit/entrypoints checks that no
``manage/`` route is registered any other way.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import azure.functions as func

from entrypoints._bindings import to_http_response
from entrypoints._deps import container
from shared.app.operator.access import admit
from shared.app.responses import Reply

__all__ = ["GUARD_MARK", "manage_route"]

Trigger = Callable[[func.HttpRequest], Awaitable[func.HttpResponse]]
GUARD_MARK = "__operator_guarded__"


def manage_route(bp: func.Blueprint, route: str, methods: list[str]) -> Callable[[Trigger], Any]:
    """``@bp.route`` for an operator route, with the sign-in check around the trigger."""
    if not route.startswith("manage/"):
        raise ValueError(f"operator routes live under manage/, not {route!r}")

    def register(trigger: Trigger) -> Any:
        @functools.wraps(trigger)
        async def guarded(req: func.HttpRequest) -> func.HttpResponse:
            verdict = await admit((await container()).operator_access(), req.headers.get("authorization"),
                                  req.method)
            if isinstance(verdict, Reply):
                return to_http_response(verdict)
            return await trigger(req)

        setattr(guarded, GUARD_MARK, True)
        return bp.route(route=route, methods=methods, auth_level=func.AuthLevel.ANONYMOUS)(guarded)

    return register
