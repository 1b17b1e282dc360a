"""Tracing with OpenTelemetry: off unless OTEL_EXPORTER_OTLP_ENDPOINT is set.

When on, each web worker exports its spans over OTLP/HTTP (protobuf, batched): one server span per request,
named by its operationId and child of the caller's W3C `traceparent` (web.middleware.Edge);
a span per SQL statement (`_trace_statements`); and a client span per outgoing HTTP call, which
passes `traceparent` on (connectors/http.py). Every log line written inside a span carries its `traceId`
(core/logging.py). When off, nothing is recorded and no span is started.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import Engine, event

from core.config import Settings

EXPORT_TIMEOUT_SECONDS = 5  # a collector that does not answer delays only the exporting thread, this long
tracer = trace.get_tracer("switchboard")  # records once configure_tracing has set a provider


def configure_tracing(settings: Settings, engine: Engine) -> Callable[[], None]:
    """Sets this process's tracer provider and instruments `engine`; returns what flushes and stops it."""
    if not settings.tracing_enabled:
        return lambda: None
    # The SDK and the exporter are imported only by a process that traces.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
    provider = TracerProvider(resource=Resource.create({"service.name": settings.otel_service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, timeout=EXPORT_TIMEOUT_SECONDS)))
    trace.set_tracer_provider(provider)
    _trace_statements(engine)
    return provider.shutdown


def _trace_statements(engine: Engine) -> None:
    """A client span per statement, from the engine's cursor events. (opentelemetry-instrumentation-sqlalchemy
    declares SQLAlchemy < 2.1 and patches its asyncio extension, which needs greenlet; this is all we use.)"""

    @event.listens_for(engine, "before_cursor_execute")
    def start(_conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool) -> None:
        span = tracer.start_span(statement.split(None, 1)[0] if statement else "SQL", kind=SpanKind.CLIENT)
        span.set_attributes({"db.system": "postgresql", "db.statement": statement[:_STATEMENT_CHARS]})
        context._switchboard_span = span

    @event.listens_for(engine, "after_cursor_execute")
    def end(_conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool) -> None:
        span = getattr(context, "_switchboard_span", None)
        if span is not None:
            span.end()

    @event.listens_for(engine, "handle_error")
    def fail(exception_context: Any) -> None:
        span = getattr(exception_context.execution_context, "_switchboard_span", None)
        if span is not None:
            span.set_status(StatusCode.ERROR, type(exception_context.original_exception).__name__)
            span.end()


_STATEMENT_CHARS = 2000  # statements carry placeholders, never the values bound to them


def current_trace_id() -> str | None:
    """The trace id of the span in progress (32 hex digits), if one is being recorded."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
