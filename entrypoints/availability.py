"""Availability: free/busy of people and rooms and the free slots when all can meet (design.md section 11).
Thin: decode → one call → encode."""

from __future__ import annotations

import azure.functions as func

from entrypoints._bindings import to_http_response as _http
from entrypoints._deps import container
from shared.app.people import availability

bp = func.Blueprint()


@bp.function_name("availability")
@bp.route(route="availability", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def find_availability(req: func.HttpRequest) -> func.HttpResponse:
    return _http(await availability.find_availability(req.get_body(), (await container()).availability()))
