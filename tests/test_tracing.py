"""Traces as a collector receives them: ``python -m service`` with the standard OTEL_*
variables exports over OTLP/HTTP to a receiver started here, on a real socket, which
decodes each payload with the official ``opentelemetry-proto`` messages."""

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from service import tracing
from tests.support import (
    ACCESS_KEY_ID,
    FAILED,
    SECRET_ACCESS_KEY,
    WAIT,
    Upstream,
    running_process,
)

pytestmark = pytest.mark.processes

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


class Receiver:
    """An OTLP/HTTP traces endpoint: every span it was sent, by id, as dictionaries."""

    def __init__(self) -> None:
        self.spans: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def take(self, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        with self.lock:
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        self.spans[span.span_id.hex()] = {
                            "name": span.name,
                            "id": span.span_id.hex(),
                            "status": span.status.code,
                            "events": [event.name for event in span.events],
                            "trace": span.trace_id.hex(),
                            "parent": span.parent_span_id.hex(),
                            "kind": span.kind,
                            "attributes": {
                                a.key: getattr(a.value, a.value.WhichOneof("value"))
                                for a in span.attributes
                            },
                        }

    def names(self, trace_id: str) -> set[str]:
        return {span["name"] for span in self.of(trace_id)}

    def of(self, trace_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [span for span in self.spans.values() if span["trace"] == trace_id]


def accessed(log: Path, route: str) -> list[dict[str, Any]]:
    """The access lines of ``route`` the gateway's JSON log holds so far."""
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("route") == route]


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    received = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            assert self.path == "/v1/traces"
            received.take(body)
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_a_graphql_request_under_a_callers_traceparent_is_one_trace(
    receiver: tuple[Receiver, str], upstream: Upstream, tmp_path: Path
) -> None:
    received, endpoint = receiver
    environment = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "50",  # ms: the test need not wait 5 s for a batch
        "OTEL_SERVICE_NAME": "gateway-under-test",
        # As deployed (JSON log lines), reading the emulator on its socket.
        "GATEWAY_AUTH": "none",
        "AWS_ENDPOINT_URL_CODEDEPLOY": upstream.url,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    query = """{ deploymentInstance(deploymentId: "%s", instanceId: "%s") { status } }"""
    with running_process(tmp_path / "gateway.log", False, **environment) as (url, _):
        async with httpx.AsyncClient(base_url=url) as client:
            answer = await client.post(
                "/graphql",
                json={"query": query % FAILED, "operationName": None},
                headers={"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"},
            )
            assert answer.json()["data"]["deploymentInstance"]["status"] == "FAILED"
            openmetrics = await client.get(
                "/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"}
            )
            async with asyncio.timeout(WAIT):  # until the batches arrive, the request's last
                while not {"POST /graphql", "query"} <= received.names(TRACE_ID):  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
        async with asyncio.timeout(WAIT):  # until the access line is out (lines go in batches)
            while not (access := accessed(tmp_path / "gateway.log", "/graphql")):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    spans = {span["name"]: span for span in received.of(TRACE_ID)}
    request = spans["POST /graphql"]
    assert request["parent"] == CALLER_SPAN  # the caller's trace, continued
    assert request["attributes"]["http.response.status_code"] == 200
    operation = spans["query"]
    assert operation["parent"] == next(k for k, s in received.spans.items() if s is request)
    call = spans["CodeDeploy/BatchGetDeploymentInstances"]
    assert call["attributes"]["rpc.system"] == "aws-api"
    assert call["attributes"]["rpc.method"] == "BatchGetDeploymentInstances"
    # The call's ancestors lead to the request span, through the operation's.
    ids = {id_: span for id_, span in received.spans.items() if span["trace"] == TRACE_ID}
    chain, parent = [], call["parent"]
    while parent in ids:
        chain.append(ids[parent]["name"])
        parent = ids[parent]["parent"]
    assert chain[-2:] == ["query", "POST /graphql"]
    assert parent == CALLER_SPAN
    # The upstream latency's exemplar names the trace too (OpenMetrics, when asked).
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert f'# {{trace_id="{TRACE_ID}"}}' in openmetrics.text
    # The access line names the trace.
    assert [line["trace_id"] for line in access] == [TRACE_ID]


def test_a_spans_error_is_recorded_a_cancellation_is_not(
    receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``span`` does ``start_as_current_span``'s work: current within its block, ended
    after it, an error (not a cancellation) recorded with status ERROR."""
    received, url = receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
    assert tracing.configure("test")
    try:
        with pytest.raises(ValueError, match="no such thing"), tracing.span("fails"):
            raise ValueError("no such thing")
        with pytest.raises(asyncio.CancelledError), tracing.span("cancelled"):
            raise asyncio.CancelledError
        with tracing.span("outer") as outer, tracing.span("inner"):
            tracing.event("hit")
            assert outer is not None
            current = format(outer.get_span_context().trace_id, "032x")
            assert tracing.current_trace_id() == current
        assert tracing.current_trace_id() is None  # no span current after the blocks
    finally:
        tracing.shutdown()  # exports what is left
    spans = {span["name"]: span for span in received.spans.values()}
    assert (spans["fails"]["status"], spans["fails"]["events"]) == (2, ["exception"])  # ERROR
    assert (spans["cancelled"]["status"], spans["cancelled"]["events"]) == (0, [])  # UNSET
    assert spans["inner"]["parent"] == spans["outer"]["id"]
    assert spans["inner"]["events"] == ["hit"]
    assert spans["outer"]["parent"] == ""


def test_tracing_is_off_without_an_endpoint() -> None:
    assert not tracing.wanted({})
    assert not tracing.wanted(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_SDK_DISABLED": "true"}
    )
    assert not tracing.wanted(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_TRACES_EXPORTER": "none"}
    )
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c"})
    assert not tracing.on()  # the test process never configured it
