"""The telemetry port: spans, the trace context that crosses the queues, and the connector's metrics.

Use cases and the Graph session call it; ``shared.adapters.telemetry.OpenTelemetry`` implements it over the
OpenTelemetry API (exported to Application Insights, the console or OTLP as configured), and ``NoTelemetry``
does nothing (the default of every use case's dependencies, so tests that need no telemetry pass none).
Metric names and attributes are those of ``docs/telemetry-names.md``; the adapter adds ``tenant`` to each.
Attribute values are never a mailbox address, a token or a secret.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Literal, Protocol

__all__ = ["NO_TELEMETRY", "NoTelemetry", "Outcome", "SpanAttributes", "Telemetry", "TelemetrySpan"]

SpanAttributes = Mapping[str, str | int | float | bool]
# connector.events.processed's outcome attribute.
Outcome = Literal["written", "unchanged", "stale", "dead_lettered", "deferred", "rescheduled", "coalesced"]


class TelemetrySpan(Protocol):
    def set(self, key: str, value: str | int | float | bool) -> None:
        """Add an attribute to the span (an outcome, a status)."""
        ...


class Telemetry(Protocol):
    """Traces and metrics, as the connector speaks of them."""

    # -- traces

    def span(self, name: str, attributes: SpanAttributes | None = None, *, carrier: Mapping[str, object] | None = None,
             client: bool = False) -> AbstractContextManager[TelemetrySpan]:
        """A span around the block, current inside it. ``carrier``: a message's application properties; the
        span continues the trace their ``traceparent`` names (or the current one when they name none).
        ``client``: the span is an outgoing call (a Graph request)."""
        ...

    def trace_context(self) -> dict[str, str]:
        """The current span's W3C trace context (``traceparent``, ``tracestate``), for a message's properties."""
        ...

    def for_tenant(self, tenant: str | None) -> AbstractContextManager[None]:
        """Inside the block, every metric's ``tenant`` is ``tenant`` (the message's or the event's; None: the
        settings' tenant)."""
        ...

    # -- counters and the histogram

    def events_accepted(self, source: str, count: int) -> None: ...

    def event_processed(self, outcome: Outcome) -> None: ...

    def dead_letter_recorded(self, queue: str) -> None: ...

    def graph_request(self, mailbox_bucket: int | None, status: int) -> None: ...

    def graph_throttled(self, mailbox_bucket: int | None, wait_seconds: float) -> None:
        """A throttling answer with Retry-After: counted, and its wait added to the seconds waited."""
        ...

    def queue_lag(self, queue: str, seconds: float) -> None: ...

    def drift_found(self, kind: str, count: int) -> None: ...

    # -- gauges (the last value told is what each export samples)

    def subscriptions(self, healthy: int, failing: int) -> None: ...

    def credential_days_left(self, kind: str, days: float) -> None: ...

    def connections_needing_reconnect(self, count: int) -> None: ...

    def breaker_tripped(self, source: str, tripped: bool) -> None: ...

    def deadletters_open(self, count: int) -> None: ...

    def queue_oldest_age(self, queue: str, seconds: float) -> None: ...


class _NoSpan:
    def set(self, key: str, value: str | int | float | bool) -> None:
        pass


class NoTelemetry:
    """Records nothing."""

    @contextmanager
    def span(self, name: str, attributes: SpanAttributes | None = None, *,
             carrier: Mapping[str, object] | None = None, client: bool = False) -> Iterator[TelemetrySpan]:
        yield _NoSpan()

    def trace_context(self) -> dict[str, str]:
        return {}

    @contextmanager
    def for_tenant(self, tenant: str | None) -> Iterator[None]:
        yield

    def events_accepted(self, source: str, count: int) -> None:
        pass

    def event_processed(self, outcome: Outcome) -> None:
        pass

    def dead_letter_recorded(self, queue: str) -> None:
        pass

    def graph_request(self, mailbox_bucket: int | None, status: int) -> None:
        pass

    def graph_throttled(self, mailbox_bucket: int | None, wait_seconds: float) -> None:
        pass

    def queue_lag(self, queue: str, seconds: float) -> None:
        pass

    def drift_found(self, kind: str, count: int) -> None:
        pass

    def subscriptions(self, healthy: int, failing: int) -> None:
        pass

    def credential_days_left(self, kind: str, days: float) -> None:
        pass

    def connections_needing_reconnect(self, count: int) -> None:
        pass

    def breaker_tripped(self, source: str, tripped: bool) -> None:
        pass

    def deadletters_open(self, count: int) -> None:
        pass

    def queue_oldest_age(self, queue: str, seconds: float) -> None:
        pass


NO_TELEMETRY: Telemetry = NoTelemetry()
