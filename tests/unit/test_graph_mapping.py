from __future__ import annotations

import pytest

from shared.adapters.graph_calendar import classify_graph_error
from shared.adapters.graph_client import mailbox_of_url, retry_after_seconds
from shared.errors import (
    ConcurrencyConflict,
    Forbidden,
    NotFound,
    RejectedByGraph,
    Throttled,
    TransientError,
    UnknownMailbox,
)


@pytest.mark.parametrize("status,code,expected", [
    (429, "TooManyRequests", Throttled),
    (503, None, Throttled),
    (504, None, Throttled),
    (404, "ErrorItemNotFound", NotFound),
    (404, "ErrorInvalidUser", UnknownMailbox),
    (403, "ErrorAccessDenied", Forbidden),
    (400, "ErrorInvalidRequest", RejectedByGraph),
    (412, "ErrorIrresolvableConflict", ConcurrencyConflict),
    (500, "InternalServerError", TransientError),
    (401, "InvalidAuthenticationToken", TransientError),
])
def test_graph_answers_map_to_connector_errors(status: int, code: str | None, expected: type) -> None:
    error = classify_graph_error(status, code, "message", {}, "anna@contoso.com")
    assert type(error) is expected


def test_throttling_keeps_the_retry_after() -> None:
    error = classify_graph_error(429, "TooManyRequests", "Please retry again later.", {"Retry-After": "17"}, "a@b.c")
    assert isinstance(error, Throttled) and error.retry_after == 17


def test_an_access_policy_denial_tells_the_operator_where_to_look() -> None:
    error = classify_graph_error(403, "ErrorAccessDenied", "Access to OData is disabled.", {}, "anna@contoso.com")
    assert "anna@contoso.com" in str(error) and "Test-ApplicationAccessPolicy" in str(error)


@pytest.mark.parametrize("value,seconds", [("10", 10.0), ("2.5", 2.5), (None, None), ("soon", None)])
def test_retry_after_is_read_as_seconds(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value) == seconds


def test_the_mailbox_is_read_from_the_request_path() -> None:
    assert mailbox_of_url("https://graph.microsoft.com/v1.0/users/Anna%40contoso.com/events/AAM") == "anna@contoso.com"
    assert mailbox_of_url("https://graph.microsoft.com/v1.0/subscriptions") is None
