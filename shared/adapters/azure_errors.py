"""One mapping of azure-core's exceptions (Table Storage, Key Vault) onto the connector's errors.

    azure-core                                        connector (shared.errors)
    ResourceNotFoundError, any 404                    NotFound
    ResourceModifiedError, ResourceExistsError,
      any 412, 409 or 404, for a conditional write    ConcurrencyConflict (``conflict=True``: the row
                                                      changed or went away under another writer)
    ClientAuthenticationError (401, or no token)      ConfigurationError naming the setting
    HttpResponseError 403                             ConfigurationError naming the setting (a missing role)
    HttpResponseError 408, 429, 5xx                   TransientError
    HttpResponseError other 4xx                       PermanentError (409 and 412 too without ``conflict``)
    ServiceRequestError, ServiceResponseError         TransientError (connection, timeout, broken answer)
    any other AzureError                              TransientError

The SDK has already retried what its retry policy retries; the messages name the status and the
service's error code, never a credential.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)

from shared.errors import (
    ConcurrencyConflict,
    ConfigurationError,
    ConnectorError,
    NotFound,
    PermanentError,
    TransientError,
)

__all__ = ["azure_errors", "map_azure_error"]

_RETRYABLE = frozenset({408, 429})


def map_azure_error(exc: AzureError, what: str, *, setting: str, conflict: bool = False) -> ConnectorError:
    """The connector's error for ``exc``, raised while working on ``what`` (e.g. "table storage mappings").

    ``setting``: the app setting an operator fixes when the service refuses the identity.
    ``conflict``: the call was a conditional write, so 409/412 (and 404: the row is gone) mean another writer won.
    """
    status = exc.status_code if isinstance(exc, HttpResponseError) else None
    detail = _detail(exc, status)
    if conflict and (isinstance(exc, ResourceModifiedError | ResourceExistsError | ResourceNotFoundError)
                     or status in (404, 409, 412)):
        return ConcurrencyConflict(f"{what} changed meanwhile ({detail})")
    if isinstance(exc, ResourceNotFoundError) or status == 404:
        return NotFound(f"{what}: not found ({detail})")
    if isinstance(exc, ClientAuthenticationError) or status == 403:
        return ConfigurationError(setting, f"{what}: the service refused the identity ({detail}); check the "
                                           "credential and the identity's role on the resource")
    if status is not None and 400 <= status < 500 and status not in _RETRYABLE:
        return PermanentError(f"{what}: the service refused the request ({detail})")
    return TransientError(f"{what} unavailable ({detail})")


@contextmanager
def azure_errors(what: str, *, setting: str, conflict: bool = False) -> Iterator[None]:
    """Raise the connector's error for any azure-core error raised inside the block (``map_azure_error``)."""
    try:
        yield
    except AzureError as exc:
        raise map_azure_error(exc, what, setting=setting, conflict=conflict) from exc


def _detail(exc: AzureError, status: int | None) -> str:
    code = getattr(exc, "error_code", None)
    parts = [type(exc).__name__, *([str(status)] if status is not None else []), *([str(code)] if code else [])]
    return " ".join(parts)
