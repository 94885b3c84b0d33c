"""Refused by the host: an HTTP route under the reserved ``admin`` prefix."""

from __future__ import annotations

import azure.functions as func

app = func.FunctionApp()


@app.route(route="/Admin/things", auth_level=func.AuthLevel.ADMIN)
def things(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("never served")
