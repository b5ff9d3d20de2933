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
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

logger = logging.getLogger(__name__)

ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

_tracer: "Tracer | None" = None
_shutdown: Any = None
_OFF: AbstractContextManager[None] = nullcontext()


@dataclass(frozen=True, slots=True)
class _Api:
    """The API's calls a request makes, looked up once, when tracing is configured."""

    attach: Callable[..., Any]
    detach: Callable[[Any], None]
    set_span_in_context: Callable[["Span"], Any]
    get_current_span: Callable[[], "Span"]
    extract: Callable[[Mapping[str, str]], Any]
    Status: type["Status"]
    ERROR: "StatusCode"
    INTERNAL: "SpanKind"


_api: _Api | None = None


def wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for traces."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return any(environ.get(name) for name in ENDPOINTS)


def configure(version: str) -> bool:
    """Sets tracing up as the environment says (once a process); whether it is on."""
    global _tracer, _shutdown, _api
    if _tracer is not None or not wanted():
        return _tracer is not None
    from opentelemetry import context, trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.propagate import extract
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    class HashedOnce(Resource):
        """The exporter groups each batch's spans by resource, hashing it per span: a JSON
        dump of all its attributes, a sixth of the export thread's time (py-spy). A
        resource never changes: hashed once."""

        @cached_property
        def _hash(self) -> int:
            return super().__hash__()

        def __hash__(self) -> int:
            return self._hash

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, read by Resource.create, win.
    resource = Resource.create({"service.name": "codedeploy-gateway", "service.version": version})
    provider = TracerProvider(resource=HashedOnce(resource.attributes, resource.schema_url))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    _tracer = provider.get_tracer("codedeploy-gateway", version)
    _shutdown = provider.shutdown
    _api = _Api(
        attach=context.attach,
        detach=context.detach,
        set_span_in_context=trace.set_span_in_context,
        get_current_span=trace.get_current_span,
        extract=extract,
        Status=trace.Status,
        ERROR=trace.StatusCode.ERROR,
        INTERNAL=trace.SpanKind.INTERNAL,
    )
    logger.info("traces go to the OTLP endpoint the OTEL_* variables name")
    return True


def shutdown() -> None:
    """Sends what is left (at the process's end)."""
    global _tracer, _shutdown, _api
    if _shutdown is not None:
        _shutdown()
    _tracer, _shutdown, _api = None, None, None


def on() -> bool:
    return _tracer is not None


def span(
    name: str,
    kind: "SpanKind | None" = None,
    attributes: Mapping[str, Any] | None = None,
    *,
    parent: Any = None,
) -> AbstractContextManager["Span | None"]:
    """A span, current within the block, child of the current one (or of ``parent``, a
    context extracted from a request); None, and nothing made, when tracing is off."""
    if _tracer is None or _api is None:
        return _OFF
    kind = kind or _api.INTERNAL
    return _Current(_tracer.start_span(name, parent, kind, attributes))


class _Current:
    """``span`` made current for a block, then ended: ``start_as_current_span``'s work
    (an error recorded on the span, its status ERROR) without its three nested generator
    context managers, which cost a traced cache hit more than the hit itself."""

    __slots__ = ("_span", "_token")

    def __init__(self, span: "Span") -> None:
        self._span = span

    def __enter__(self) -> "Span":
        assert _api is not None
        self._token = _api.attach(_api.set_span_in_context(self._span))
        return self._span

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: object
    ) -> None:
        assert _api is not None
        try:
            # Errors only, as the SDK: not a cancellation nor a generator's exit.
            if isinstance(error, Exception) and kind is not None and self._span.is_recording():
                self._span.record_exception(error)
                self._span.set_status(_api.Status(_api.ERROR, f"{kind.__name__}: {error}"))
        finally:
            _api.detach(self._token)
            self._span.end()


def incoming(headers: Mapping[str, str]) -> Any:
    """The caller's trace context (W3C ``traceparent``/``tracestate``), to continue; None
    when tracing is off or the caller sent none."""
    if _api is None or not headers:
        return None
    return _api.extract(headers)


def event(name: str) -> None:
    """An event on the current span (a cache's hit, miss, join, ...)."""
    if _api is not None:
        _api.get_current_span().add_event(name)


def current_trace_id() -> str | None:
    """The current trace's id, 32 hex digits (for log lines and exemplars); None if none."""
    if _api is None:
        return None
    context = _api.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
