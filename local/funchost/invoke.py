"""Calling user functions and building their trigger inputs, as the Python worker does."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeAlias

from azure.functions import meta
from azure.functions._eventgrid import CloudEvent, EventGridEvent
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.servicebus import ServiceBusMessage
from azure.functions.timer import TimerRequest

from local.funchost.queue_store import ReceivedMessage

from .indexing import IndexedFunction

__all__ = [
    "FunctionTimeout",
    "HOST_API_REASON",
    "InvocationContext",
    "call_function",
    "direct_service_bus_message",
    "event_grid_event",
    "log_crash",
    "service_bus_message",
    "timer_request",
    "with_timeout",
]

log = logging.getLogger("funchost")
# The reason the Functions host gives for an HTTP call or one through POST /admin/functions/{name}.
HOST_API_REASON = "This function was programmatically called via the host APIs."


@dataclass(frozen=True)
class InvocationContext:
    """What ``context: func.Context`` gives a function (the parts that make sense locally)."""

    function_name: str
    invocation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_directory: str = field(default_factory=os.getcwd)
    trace_context: Any = None
    retry_context: Any = None


async def call_function(fn: IndexedFunction, value: Any, *, reason: str | None = None) -> Any:
    """Run the user function with its trigger argument; sync functions run in a worker thread.

    A thread keeps a blocking function from stalling the event loop that serves HTTP and pumps
    the queues, which is what the worker's thread pool is for. Each call is logged as the
    Functions host logs it (``Executing 'Functions.<name>' (Reason=..., Id=...)``, the Service Bus
    trigger details, then ``Executed 'Functions.<name>' (Succeeded|Failed, Id=..., Duration=<n>ms)``);
    the trigger's payload is never logged.
    """
    context = InvocationContext(function_name=fn.name)
    name, invocation = f"Functions.{fn.name}", context.invocation_id
    log.info("Executing '%s' (Reason='%s', Id=%s)", name, reason or _reason(value), invocation)
    if isinstance(value, ServiceBusMessage):
        log.info("Trigger Details: MessageId: %s, SequenceNumber: %s, DeliveryCount: %s, EnqueuedTimeUtc: %s, "
                 "LockedUntilUtc: %s, SessionId: %s", value.message_id, value.sequence_number,
                 value.delivery_count, _utc(value.enqueued_time_utc), _utc(value.locked_until),
                 value.session_id or "(null)")
    started = time.monotonic()
    try:
        result = await _call(fn, value, context)
    except BaseException:
        # Cancellation (the host shutting down) counts as a failure too, as on Azure.
        log.error("Executed '%s' (Failed, Id=%s, Duration=%dms)", name, invocation, _elapsed_ms(started))
        raise
    log.info("Executed '%s' (Succeeded, Id=%s, Duration=%dms)", name, invocation, _elapsed_ms(started))
    return result


async def _call(fn: IndexedFunction, value: Any, context: InvocationContext) -> Any:
    kwargs: dict[str, Any] = {fn.arg_name: value}
    if _takes_context(fn.func) and fn.arg_name != "context":
        kwargs["context"] = context
    if inspect.iscoroutinefunction(fn.func):
        return await fn.func(**kwargs)
    result = await asyncio.to_thread(functools.partial(fn.func, **kwargs))
    if inspect.isawaitable(result):
        result = await result
    return result


@functools.cache
def _takes_context(func: Callable[..., Any]) -> bool:
    return "context" in inspect.signature(func).parameters


Invoker: TypeAlias = Callable[..., Awaitable[Any]]


class FunctionTimeout(Exception):
    """The invocation ran past host.json ``functionTimeout`` (the host's FunctionTimeoutException)."""


def with_timeout(invoke: Invoker, seconds: float | None) -> Invoker:
    """``invoke`` cancelled after ``seconds``, as the host does at ``functionTimeout`` (None: no limit).

    The host then fails the invocation, so a queue message is abandoned and comes back with its
    delivery count raised. A sync function's thread cannot be stopped; it runs on unobserved,
    where Azure would restart the worker process.
    """
    if seconds is None:
        return invoke

    async def call(fn: IndexedFunction, value: Any, **options: Any) -> Any:
        scope = asyncio.timeout(seconds)
        try:
            async with scope:
                return await invoke(fn, value, **options)
        except TimeoutError:
            if not scope.expired():
                raise  # the function's own timeout, not the host's
            raise FunctionTimeout(f"Timeout value of {_timespan(seconds)} was exceeded by function: "
                                  f"Functions.{fn.name}") from None

    return call


def _timespan(seconds: float) -> str:
    whole = int(seconds)
    text = f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
    fraction = round(seconds - whole, 3)
    return text + f"{fraction:.3f}"[1:] if fraction else text


def _reason(value: Any) -> str:
    if isinstance(value, TimerRequest):
        return f"Timer fired at {datetime.now(UTC).isoformat()}"
    if isinstance(value, ServiceBusMessage):
        return "(null)"  # what the Service Bus extension gives; the details follow on their own line
    if isinstance(value, CloudEvent | EventGridEvent):
        return f"EventGrid trigger fired at {datetime.now(UTC).isoformat()}"
    return HOST_API_REASON


def _utc(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat() if value is not None else "(null)"


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def log_crash(task: asyncio.Task[Any]) -> None:
    """Done-callback for the host's long-lived tasks: a crash must not pass silently."""
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped with an error", task.get_name(), exc_info=task.exception())


def _datum(value: Any, kind: str) -> meta.Datum:
    return meta.Datum(value, kind if value is not None else None)


def service_bus_message(received: ReceivedMessage) -> ServiceBusMessage:
    """The message the worker's converter would pass for this delivery.

    Built from ``azure.functions.servicebus`` (and ``.timer`` below): those are the concrete
    classes the worker creates; ``func.ServiceBusMessage`` and ``func.TimerRequest`` are their
    abstract bases.
    """
    props = dict(received.application_properties)
    enqueued = received.enqueued_time
    metadata = {
        "MessageId": _datum(received.message_id, "string"),
        "SessionId": _datum(received.session_id, "string"),
        "DeliveryCount": _datum(received.delivery_count, "int"),
        "SequenceNumber": _datum(received.sequence_number, "int"),
        "EnqueuedTimeUtc": _datum(enqueued.isoformat(), "string"),
        "LockToken": _datum(received.lock_token, "string"),
        "ContentType": _datum(received.content_type, "string"),
        "UserProperties": _datum(json.dumps(props), "json"),
        "ApplicationProperties": _datum(json.dumps(props), "json"),
    }
    return ServiceBusMessage(
        body=received.body,
        trigger_metadata=metadata,
        application_properties=props,
        content_type=received.content_type,
        delivery_count=received.delivery_count,
        enqueued_sequence_number=received.sequence_number,
        enqueued_time_utc=enqueued,
        locked_until=received.locked_until,
        lock_token=received.lock_token,
        message_id=received.message_id,
        sequence_number=received.sequence_number,
        session_id=received.session_id,
        state=0,
        user_properties=props,
    )


def direct_service_bus_message(body: str) -> ServiceBusMessage:
    """A message for ``POST /admin/functions/{name}``: like Azure, it bypasses the queue."""
    now = datetime.now(UTC)
    received = ReceivedMessage(
        queue="",
        sequence_number=0,
        message_id=uuid.uuid4().hex,
        session_id=None,
        body=body.encode("utf-8"),
        content_type=None,
        application_properties={},
        delivery_count=1,
        enqueued_time=now,
        lock_token="",
        locked_until=now,
    )
    return service_bus_message(received)


def timer_request(*, past_due: bool, last: datetime | None, next_due: datetime) -> TimerRequest:
    status = {
        "Last": last.isoformat() if last else None,
        "Next": next_due.isoformat(),
        "LastUpdated": datetime.now(UTC).isoformat(),
    }
    return TimerRequest(past_due=past_due, schedule_status=status, schedule={"AdjustForDST": True})


def event_grid_event(event: dict[str, Any]) -> Any:
    """What the worker's converter passes for one event: a ``CloudEvent`` for the CloudEvents schema (it has
    ``specversion``), else an ``EventGridEvent``."""
    return EventGridEventInConverter.decode(meta.Datum(json.dumps(event), "json"), trigger_metadata={})
