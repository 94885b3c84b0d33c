"""Encoding shared by the trigger modules: a transport-neutral ``Reply`` → ``func.HttpResponse``."""

from __future__ import annotations

import azure.functions as func

from shared.app.responses import Reply


def to_http_response(reply: Reply) -> func.HttpResponse:
    return func.HttpResponse(reply.body, status_code=reply.status, mimetype=reply.content_type,
                             headers=reply.headers or None)
