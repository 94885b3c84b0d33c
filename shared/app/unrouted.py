"""Requests no route takes. The Functions host answers both an unknown path and a method a route does not
bind with a bare 404; the catch-all route hands them here instead, so a client gets problem+json: 404 for a
path the API does not have, 405 with ``Allow`` for a documented path and a method it does not take."""

from __future__ import annotations

import re
from functools import cache

from shared.app.responses import Reply, problem
from shared.schemas import openapi_document

__all__ = ["unrouted"]

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@cache
def _documented() -> list[tuple[re.Pattern[str], tuple[str, ...]]]:
    routes = []
    for template, item in openapi_document()["paths"].items():
        if not template.startswith("/api/"):
            continue  # /admin/... is the host's own API, never routed to the app
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        methods = tuple(m.upper() for m in _METHODS if m in item)
        routes.append((re.compile(rf"{pattern}/?\Z", re.IGNORECASE | re.DOTALL), methods))
    return routes


def unrouted(method: str, path: str) -> Reply:
    """``path`` without the route prefix, as the catch-all route binds it."""
    full = "/api/" + path.lstrip("/")
    # A literal route and a parameter route may both match (manage/rooms/available): the methods of both.
    allowed = sorted({m for pattern, methods in _documented() if pattern.match(full) for m in methods})
    if not allowed:
        return problem(404, "Not found", f"the API has no {full}; see /api/openapi.json")
    allow = ", ".join(allowed)
    reply = problem(405, "Method not allowed", f"{full} takes {allow}, not {method}")
    return Reply(reply.status, reply.body, reply.content_type, {"Allow": allow})
