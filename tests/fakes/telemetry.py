"""The real OpenTelemetry adapter over in-memory SDK providers (no global state): the spans it finished and
the metrics it recorded, as a test reads them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.adapters.telemetry import OpenTelemetry


@dataclass
class RecordedTelemetry:
    tenant: str = "t"
    exporter: InMemorySpanExporter = field(default_factory=InMemorySpanExporter)
    reader: InMemoryMetricReader = field(default_factory=InMemoryMetricReader)

    def __post_init__(self) -> None:
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.telemetry = OpenTelemetry(self.tenant, tracer_provider=tracer_provider,
                                       meter_provider=MeterProvider(metric_readers=[self.reader]))

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def span(self, name: str) -> ReadableSpan:
        [found] = [s for s in self.spans() if s.name == name]
        return found

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, value) of each data point of metric ``name`` (a histogram's value: its count and sum)."""
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name != name:
                        continue
                    for point in metric.data.data_points:
                        value = getattr(point, "value", None)
                        if value is None:
                            value = (point.count, point.sum)  # type: ignore[attr-defined]
                        found.append((dict(point.attributes or {}), value))
        return found

    def names(self) -> set[str]:
        data = self.reader.get_metrics_data()
        return {metric.name for resource in (data.resource_metrics if data else ())
                for scope in resource.scope_metrics for metric in scope.metrics}
