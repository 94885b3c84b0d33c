"""The telemetry port over OpenTelemetry, and the one place the exporters are chosen.

``OpenTelemetry`` creates the instruments of ``docs/telemetry-names.md`` on a meter and spans on a tracer
(the global providers unless given: tests pass in-memory ones). ``configure_exporters`` sets the global
providers once per process: Azure Monitor (``configure_azure_monitor``) when
``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set; else the console or OTLP when ``CONNECTOR_OTEL_EXPORTER``
says so; else nothing, and every span and instrument is a no-op. The exporters' packages are imported only
there, on the first container, never when ``function_app`` is imported.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.app.ports.telemetry import Outcome, SpanAttributes, TelemetrySpan
from shared.config import Settings
from shared.errors import ConfigurationError

__all__ = ["COUNTERS", "GAUGES", "HISTOGRAMS", "OpenTelemetry", "configure_exporters", "status_class"]

logger = logging.getLogger(__name__)

SCOPE = "m365-calendar-connector"
TRACE_HEADERS = ("traceparent", "tracestate")
# The tenant of the work in hand (``for_tenant``), for the metrics' ``tenant``; None: the settings' tenant.
_TENANT: ContextVar[str | None] = ContextVar("connector_tenant", default=None)

# The names of docs/telemetry-names.md (tests/unit/test_telemetry.py compares them with the document).
COUNTERS = {
    "connector.events.accepted": "planning events accepted at ingest",
    "connector.events.processed": "queue messages settled by the sync worker",
    "connector.deadletters.recorded": "messages the connector gave up on (dead-letter list)",
    "connector.graph.requests": "Graph requests sent",
    "connector.graph.throttled": "429/503/504 answers with Retry-After",
    "connector.graph.wait_seconds": "seconds waited because of Retry-After (in place or through the queue)",
    "connector.drift.found": "drift found by repair runs",
}
HISTOGRAMS = {"connector.queue.lag_seconds": "enqueue to start of processing"}
GAUGES = {
    "connector.deadletters.open": "dead letters not yet replayed or discarded",
    "connector.queue.oldest_age_seconds": "age of the oldest active message",
    "connector.subscriptions": "room subscriptions by state",
    "connector.credential.days_left": "days until the Graph credential expires",
    "connector.connections.needs_reconnect": "delegated connections that need the person to reconnect",
    "connector.breakers.tripped": "1 while a mass-deletion breaker holds deletes for the source",
}


def status_class(status: int) -> str:
    """2xx, 4xx, 429, 5xx (and 3xx, 1xx) for connector.graph.requests."""
    return "429" if status == 429 else f"{status // 100}xx"


class _Span:
    def __init__(self, span: trace.Span) -> None:
        self._span = span

    def set(self, key: str, value: str | int | float | bool) -> None:
        self._span.set_attribute(key, value)


class OpenTelemetry:
    """The ``Telemetry`` port: every metric carries ``tenant``; gauges report the last value told."""

    def __init__(self, tenant: str, *, tracer_provider: trace.TracerProvider | None = None,
                 meter_provider: metrics.MeterProvider | None = None) -> None:
        self._tenant = tenant
        self._tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer(SCOPE)
        meter = (meter_provider or metrics.get_meter_provider()).get_meter(SCOPE)
        self._propagator = TraceContextTextMapPropagator()
        self._counters = {name: meter.create_counter(name, description=text) for name, text in COUNTERS.items()}
        self._histograms = {name: meter.create_histogram(name, unit="s", description=text)
                            for name, text in HISTOGRAMS.items()}
        self._gauge_values: dict[str, dict[tuple[tuple[str, str], ...], float]] = {name: {} for name in GAUGES}
        self._lock = threading.Lock()  # the export thread reads what the event loop writes
        for name, text in GAUGES.items():
            meter.create_observable_gauge(name, callbacks=[self._observer(name)], description=text)

    # -- traces

    @contextmanager
    def span(self, name: str, attributes: SpanAttributes | None = None, *,
             carrier: Mapping[str, object] | None = None, client: bool = False) -> Iterator[TelemetrySpan]:
        context = None
        if carrier is not None:
            headers = {key: _text(carrier[key]) for key in TRACE_HEADERS if carrier.get(key) is not None}
            if headers:
                context = self._propagator.extract(headers)
        kind = trace.SpanKind.CLIENT if client else trace.SpanKind.CONSUMER if context else trace.SpanKind.INTERNAL
        with self._tracer.start_as_current_span(name, context=context, kind=kind, attributes=attributes) as span:
            yield _Span(span)

    def trace_context(self) -> dict[str, str]:
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier)
        return carrier

    @contextmanager
    def for_tenant(self, tenant: str | None) -> Iterator[None]:
        token = _TENANT.set(tenant)
        try:
            yield
        finally:
            _TENANT.reset(token)

    # -- counters and the histogram

    def events_accepted(self, source: str, count: int) -> None:
        self._add("connector.events.accepted", count, source=source)

    def event_processed(self, outcome: Outcome) -> None:
        self._add("connector.events.processed", 1, outcome=outcome)

    def dead_letter_recorded(self, queue: str) -> None:
        self._add("connector.deadletters.recorded", 1, queue=queue)

    def graph_request(self, mailbox_bucket: int | None, status: int) -> None:
        self._add("connector.graph.requests", 1, status_class=status_class(status), **_bucket(mailbox_bucket))

    def graph_throttled(self, mailbox_bucket: int | None, wait_seconds: float) -> None:
        self._add("connector.graph.throttled", 1, **_bucket(mailbox_bucket))
        self._add("connector.graph.wait_seconds", wait_seconds, **_bucket(mailbox_bucket))

    def queue_lag(self, queue: str, seconds: float) -> None:
        self._histograms["connector.queue.lag_seconds"].record(max(seconds, 0.0), {"queue": queue})

    def drift_found(self, kind: str, count: int) -> None:
        self._add("connector.drift.found", count, kind=kind)

    # -- gauges

    def subscriptions(self, healthy: int, failing: int) -> None:
        self._gauge("connector.subscriptions", healthy, state="healthy")
        self._gauge("connector.subscriptions", failing, state="failing")

    def credential_days_left(self, kind: str, days: float) -> None:
        self._gauge("connector.credential.days_left", days, kind=kind)

    def connections_needing_reconnect(self, count: int) -> None:
        self._gauge("connector.connections.needs_reconnect", count)

    def breaker_tripped(self, source: str, tripped: bool) -> None:
        self._gauge("connector.breakers.tripped", int(tripped), source=source)

    def deadletters_open(self, count: int) -> None:
        self._gauge("connector.deadletters.open", count)

    def queue_oldest_age(self, queue: str, seconds: float) -> None:
        # Not tenant-scoped in the document: the queues are the deployment's.
        self._gauge("connector.queue.oldest_age_seconds", seconds, {"queue": queue})

    # -- helpers

    def _add(self, name: str, value: float, **attributes: str) -> None:
        self._counters[name].add(value, {"tenant": _TENANT.get() or self._tenant, **attributes})

    def _gauge(self, name: str, value: float, labels: dict[str, str] | None = None, **attributes: str) -> None:
        key = tuple(sorted((labels or {"tenant": _TENANT.get() or self._tenant, **attributes}).items()))
        with self._lock:
            self._gauge_values[name][key] = float(value)

    def _observer(self, name: str) -> Any:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            with self._lock:
                values = list(self._gauge_values[name].items())
            return [Observation(value, dict(labels)) for labels, value in values]
        return observe


def _bucket(mailbox_bucket: int | None) -> dict[str, str]:
    return {} if mailbox_bucket is None else {"mailbox_bucket": str(mailbox_bucket)}


def _text(value: object) -> str:
    return value.decode("ascii", errors="replace") if isinstance(value, bytes) else str(value)


# -- exporters, once per process

_configured: str | None = None
_configure_lock = threading.Lock()


def configure_exporters(settings: Settings) -> str:
    """Set the global providers for the exporter the settings name; return which ("" for none). Once per
    process: later calls return the first answer."""
    global _configured
    with _configure_lock:
        if _configured is None:
            _configured = _configure(settings)
            if _configured:
                logger.info("telemetry exported to %s", _configured)
        return _configured


def _configure(settings: Settings) -> str:
    telemetry = settings.telemetry
    if telemetry.connection_string:
        from azure.monitor.opentelemetry import configure_azure_monitor

        configure_azure_monitor(
            connection_string=telemetry.connection_string,
            # The Graph spans are ours (shared/adapters/graph/session.py): a mailbox bucket, never the
            # address that httpx's instrumentation would record in every URL.
            instrumentation_options={"httpx": {"enabled": False}},
        )
        _correlate_logs()
        return "azure-monitor"
    if telemetry.exporter not in ("console", "otlp"):
        return ""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

    spans: SpanExporter
    measures: MetricExporter
    if telemetry.exporter == "console":
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        spans, measures = ConsoleSpanExporter(), ConsoleMetricExporter()
    else:
        try:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            raise ConfigurationError("CONNECTOR_OTEL_EXPORTER", "is otlp, but opentelemetry-exporter-otlp-proto-http "
                                     "is not installed (it is a development package)") from None
        spans, measures = OTLPSpanExporter(), OTLPMetricExporter()  # OTEL_EXPORTER_OTLP_* name the collector
    resource = Resource.create({"service.name": SCOPE})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(spans))
    trace.set_tracer_provider(tracer_provider)
    reader = PeriodicExportingMetricReader(measures)
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=[reader]))
    _correlate_logs()
    return telemetry.exporter


def _correlate_logs() -> None:
    """Every log record carries ``otelTraceID`` and ``otelSpanID`` of the span it was logged in (Azure Monitor
    exports the records itself, correlated; no second handler)."""
    from opentelemetry.instrumentation.logging import LoggingInstrumentor

    LoggingInstrumentor().instrument(inject_trace_context=True, enable_log_auto_instrumentation=False)
