"""The one mapping of azure-core's errors onto the connector's (Table Storage and Key Vault adapters)."""

from __future__ import annotations

import pytest
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    DecodeError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from shared.adapters.azure_errors import azure_errors, map_azure_error
from shared.errors import (
    ConcurrencyConflict,
    ConfigurationError,
    ConnectorError,
    NotFound,
    PermanentError,
    TransientError,
)


def answered(cls: type[HttpResponseError], status: int | None, code: str | None = None) -> HttpResponseError:
    error = cls(message="the service's message")
    error.status_code = status
    error.error_code = code
    return error


CASES: list[tuple[AzureError, bool, type[ConnectorError]]] = [
    (answered(ResourceNotFoundError, 404, "ResourceNotFound"), False, NotFound),
    (answered(HttpResponseError, 404, "TableNotFound"), False, NotFound),
    (answered(ResourceModifiedError, 412, "UpdateConditionNotSatisfied"), True, ConcurrencyConflict),
    (answered(ResourceExistsError, 409, "EntityAlreadyExists"), True, ConcurrencyConflict),
    (answered(HttpResponseError, 412), True, ConcurrencyConflict),
    (answered(ResourceExistsError, 409, "EntityAlreadyExists"), False, PermanentError),
    (answered(ResourceModifiedError, 412), False, PermanentError),
    (answered(ClientAuthenticationError, 401), False, ConfigurationError),
    (ClientAuthenticationError("no managed identity endpoint"), False, ConfigurationError),
    (answered(HttpResponseError, 403, "AuthorizationPermissionMismatch"), False, ConfigurationError),
    (answered(HttpResponseError, 400, "PropertyValueTooLarge"), False, PermanentError),
    (answered(HttpResponseError, 413, "RequestBodyTooLarge"), False, PermanentError),
    (answered(HttpResponseError, 408), False, TransientError),
    (answered(HttpResponseError, 429), False, TransientError),
    (answered(HttpResponseError, 500, "InternalError"), False, TransientError),
    (answered(HttpResponseError, 503, "ServerBusy"), False, TransientError),
    (ServiceRequestError("connection refused"), False, TransientError),
    (ServiceResponseError("connection reset"), False, TransientError),
    (DecodeError("not JSON"), False, TransientError),
    (AzureError("something else"), False, TransientError),
]


@pytest.mark.parametrize(("error", "conflict", "expected"), CASES,
                         ids=[f"{type(e).__name__}-{getattr(e, 'status_code', None)}-{c}" for e, c, _ in CASES])
def test_each_sdk_error_maps_to_one_connector_error(error: AzureError, conflict: bool,
                                                    expected: type[ConnectorError]) -> None:
    mapped = map_azure_error(error, "table storage: mapping", setting="TableStorage", conflict=conflict)
    assert type(mapped) is expected
    assert str(mapped).startswith(("table storage: mapping", "setting TableStorage: table storage: mapping"))


def test_the_reason_names_status_and_code_and_a_refusal_names_the_setting() -> None:
    mapped = map_azure_error(answered(HttpResponseError, 403, "AuthorizationPermissionMismatch"), "table x",
                             setting="TableStorage__endpoint")
    assert isinstance(mapped, ConfigurationError) and mapped.setting == "TableStorage__endpoint"
    assert "403" in str(mapped) and "AuthorizationPermissionMismatch" in str(mapped) and "role" in str(mapped)


def test_the_block_raises_the_connector_error_chained_to_the_sdks() -> None:
    cause = ServiceRequestError("connection refused")
    with pytest.raises(TransientError) as caught, azure_errors("table storage: rooms", setting="TableStorage"):
        raise cause
    assert caught.value.__cause__ is cause


def test_the_block_lets_everything_else_through() -> None:
    with pytest.raises(KeyError), azure_errors("table storage: rooms", setting="TableStorage"):
        raise KeyError("Email")
