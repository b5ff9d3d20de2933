"""Traces (OpenTelemetry), configured by the standard ``OTEL_*`` variables alone.

On when an OTLP endpoint is named (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``), unless ``OTEL_SDK_DISABLED=true`` or
``OTEL_TRACES_EXPORTER=none``: the SDK then reads the rest itself (the sampler, the
service's name and attributes, the batch's timing, the exporter's headers). Off, the SDK
is never imported and every ``span`` is one test of a flag: nothing a request can measure.

Like logging, tracing is the process's: ``configure`` sets it up once, at start-up.
"""

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.trace import Span, SpanKind, Tracer

logger = logging.getLogger(__name__)

ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

_tracer: "Tracer | None" = None
_shutdown: Any = None


def wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for traces."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return any(environ.get(name) for name in ENDPOINTS)


def configure(version: str) -> bool:
    """Sets tracing up as the environment says (once a process); whether it is on."""
    global _tracer, _shutdown
    if _tracer is not None or not wanted():
        return _tracer is not None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, read by Resource.create, win.
    resource = Resource.create({"service.name": "codedeploy-gateway", "service.version": version})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    _tracer = provider.get_tracer("codedeploy-gateway", version)
    _shutdown = provider.shutdown
    logger.info("traces go to the OTLP endpoint the OTEL_* variables name")
    return True


def shutdown() -> None:
    """Sends what is left (at the process's end)."""
    global _tracer, _shutdown
    if _shutdown is not None:
        _shutdown()
    _tracer, _shutdown = None, None


def on() -> bool:
    return _tracer is not None


@contextmanager
def span(
    name: str,
    kind: "SpanKind | None" = None,
    attributes: Mapping[str, Any] | None = None,
    *,
    parent: Any = None,
) -> Iterator["Span | None"]:
    """A span, current within the block, child of the current one (or of ``parent``, a
    context extracted from a request); None, and nothing made, when tracing is off."""
    if _tracer is None:
        yield None
        return
    from opentelemetry.trace import SpanKind as Kinds

    with _tracer.start_as_current_span(
        name, context=parent, kind=kind or Kinds.INTERNAL, attributes=attributes
    ) as made:
        yield made


def incoming(headers: Mapping[str, str]) -> Any:
    """The caller's trace context (W3C ``traceparent``/``tracestate``), to continue."""
    if _tracer is None:
        return None
    from opentelemetry.propagate import extract

    return extract(headers)


def event(name: str) -> None:
    """An event on the current span (a cache's hit, miss, join, ...)."""
    if _tracer is None:
        return
    from opentelemetry import trace

    trace.get_current_span().add_event(name)


def current_trace_id() -> str | None:
    """The current trace's id, 32 hex digits (for log lines and exemplars); None if none."""
    if _tracer is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
