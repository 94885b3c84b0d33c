"""Graph JSON in and out through msgraph-sdk's own request machinery, without its generated models.

A request builder of the GraphServiceClient still builds the URL (its template, path and query parameters) and
its request adapter still sends the request through the session's middleware (the auth provider, the credential
refresh, the brief retry, kiota's handlers) and maps an error answer onto ``ODataError`` exactly as the SDK's
own ``get``/``post``/``patch``/``delete`` do. Only the body differs: the caller's JSON is sent as it is and the
answer comes back as a dict (``None`` for an empty answer: 202, 204). Building and parsing the SDK's ``Event``
model cost some 30 ms of CPU per request (its field tables are rebuilt, with their imports, for every object)
and pulled in over a thousand model modules; a dict costs next to nothing.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["send_json"]

_METHODS = frozenset({"GET", "POST", "PATCH", "DELETE"})


async def send_json(builder: Any, method: str, body: dict[str, Any] | None = None, *,
                    config: Any = None) -> dict[str, Any] | None:
    """Send ``method`` to the URL ``builder`` stands for (with ``config``'s query parameters and headers),
    ``body`` as JSON; Graph's JSON answer as a dict, or ``None`` when the answer has no content.

    Errors are what the SDK raises: ``ODataError`` (an ``APIError``) for an error answer, the credential's and
    httpx's exceptions otherwise; the adapters map them onto the connector's.
    """
    from kiota_abstractions.method import Method
    from kiota_abstractions.request_information import RequestInformation

    if method not in _METHODS:
        raise ValueError(f"unsupported method {method}")
    info = RequestInformation(Method[method], builder.url_template, builder.path_parameters)
    info.configure(config)
    # Expanded once, with the adapter's base URL: the adapter reads the URL several times, and each read expands
    # the template again.
    builder.request_adapter.set_base_url_for_request_information(info)
    info.url = info.url
    info.headers.try_add("Accept", "application/json")
    if body is not None:
        info.set_stream_content(json.dumps(body, separators=(",", ":")).encode("utf-8"), "application/json")
    answer = await builder.request_adapter.send_primitive_async(info, "bytes", _error_mapping())
    if not answer:
        return None
    loaded = json.loads(answer)
    return loaded if isinstance(loaded, dict) else None


def _error_mapping() -> dict[str, Any]:
    """The mapping every generated request builder passes: any error status → ODataError."""
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

    return {"XXX": ODataError}
