"""Every azure-servicebus error the sender can raise becomes a connector error of the right kind."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.servicebus import exceptions as sb

from shared.adapters.servicebus import _classify
from shared.errors import ConfigurationError, RejectedByQueue, TransientError

Q = "planning-events"


@pytest.mark.parametrize("error", [
    sb.ServiceBusConnectionError(message="link detached"),
    sb.ServiceBusCommunicationError(message="name resolution failed"),
    sb.OperationTimeoutError(message="send timed out"),
    sb.ServiceBusServerBusyError(message="server busy"),
    sb.ServiceBusQuotaExceededError(message="queue full"),
    sb.MessagingEntityDisabledError(message="queue disabled"),
    sb.ServiceBusError("internal error", condition=b"amqp:internal-error"),
    ClientAuthenticationError("managed identity endpoint unavailable"),
    ConnectionResetError(104, "reset"),
], ids=type)
def test_what_may_pass_is_transient(error: Exception) -> None:
    classified = _classify(error, Q)

    assert type(classified) is TransientError
    assert Q in str(classified) or "Service Bus" in str(classified)


@pytest.mark.parametrize(("error", "limit"), [
    (sb.MessageSizeExceededError(message="too large"), "message size"),
    (sb.ServiceBusError("no session id", condition=b"amqp:not-allowed"), "session id"),
    (sb.ServiceBusError("too long", condition=b"com.microsoft:argument-out-of-range"), "128"),
    (ValueError("message_id cannot be longer than 128 characters."), "128"),
], ids=lambda v: type(v).__name__ if isinstance(v, Exception) else v)
def test_a_message_service_bus_refuses_as_it_is_is_rejected_naming_the_limit(error: Exception, limit: str) -> None:
    classified = _classify(error, Q)

    assert isinstance(classified, RejectedByQueue)
    assert limit in classified.limit


@pytest.mark.parametrize(("error", "fix"), [
    (sb.MessagingEntityNotFoundError(message="not found"), "deploy infra/"),
    (sb.ServiceBusAuthorizationError(message="unauthorized"), "Azure Service Bus Data Sender"),
    (sb.ServiceBusAuthenticationError(message="token refused"), "key"),
], ids=lambda v: type(v).__name__ if isinstance(v, Exception) else v)
def test_a_namespace_that_refuses_us_is_a_configuration_error_naming_the_fix(error: Exception, fix: str) -> None:
    classified = _classify(error, Q)

    assert isinstance(classified, ConfigurationError)
    assert classified.setting == "ServiceBusConnection" and fix in classified.problem


def test_a_defect_that_is_not_the_sdk_s_is_left_as_it_is() -> None:
    assert _classify(TypeError("bad argument"), Q) is None
