"""Graph-shaped error responses.

Graph clients (msgraph-sdk, our connector) branch on ``error.code``, never on the message, so the
codes here mirror what Microsoft Graph sends for the same situation.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response


class GraphError(Exception):
    """Raised by handlers; the Graph pipeline turns it into a Graph-shaped error response."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_body(code: str, message: str, request_id: str, client_request_id: str) -> dict[str, Any]:
    # Graph stamps the date without offset or fraction (see samples/error-*.json).
    date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": date,
                "request-id": request_id,
                "client-request-id": client_request_id,
            },
        }
    }


def json_response(
    status: int, body: Any | None, headers: dict[str, str] | None = None
) -> Response:
    if body is None:
        return Response(status_code=status, headers=headers)
    # Graph answers with this exact media type; some clients sniff the odata parameters.
    return Response(
        content=json.dumps(body),
        status_code=status,
        headers=headers,
        media_type="application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
    )


def graph_error_response(
    err: GraphError, request_id: str, client_request_id: str
) -> Response:
    return json_response(
        err.status,
        error_body(err.code, err.message, request_id, client_request_id),
        headers=err.headers,
    )
