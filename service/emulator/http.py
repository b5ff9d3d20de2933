"""The emulator over HTTP: AWS's JSON 1.1 protocol for CodeDeploy, STS's query protocol,
and the test hooks (calls counted, deployments put), as one Starlette app."""

import json
import uuid
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from service.emulator.app import CONTENT_TYPE, TARGET_PREFIX, BrokenReply, Emulator
from service.emulator.data import DataError, EmulatorData
from service.emulator.errors import AwsError
from service.emulator.sts import error_xml

_PROXY_ERROR_PAGE = b"<html><body><h1>Service Temporarily Unavailable</h1></body></html>"


class _TruncatedResponse(Response):
    """Promises more bytes than it sends, then ends: the client sees the connection close."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", CONTENT_TYPE.encode()),
                    (b"content-length", str(len(self.body) * 10).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": self.body, "more_body": True})


def create_emulator_app(emulator: Emulator) -> Starlette:
    """The HTTP face: ``POST /`` with ``X-Amz-Target``, as AWS's JSON 1.1 services take it."""

    async def endpoint(request: Request) -> Response:
        request_id = str(uuid.uuid4())
        if "x-amz-target" not in request.headers:
            return await _sts(request, request_id)
        try:
            authorization = request.headers.get("authorization")
            if authorization is None:
                raise AwsError(
                    "MissingAuthenticationTokenException", "Missing Authentication Token"
                )
            target = request.headers["x-amz-target"]
            if not target.startswith(TARGET_PREFIX):
                raise AwsError("UnknownOperationException", f"Unknown target {target!r}")
            try:
                params = json.loads(await request.body() or b"{}")
            except ValueError as exc:
                raise AwsError("SerializationException", "Body is not valid JSON") from exc
            if not isinstance(params, dict):
                raise AwsError("SerializationException", "Body must be a JSON object")
            signer = emulator.sts.signer(authorization)
            member = emulator.at(signer.account, signer.region)
            reply = await member.handle(target.removeprefix(TARGET_PREFIX), params)
            status = 200
        except AwsError as error:
            reply = {"__type": error.type, "message": error.message}
            status = error.status
        except BrokenReply as broken:
            if broken.kind == "not-json":
                return Response(_PROXY_ERROR_PAGE, media_type="text/html")
            return _TruncatedResponse(b'{"instanceSummary": {"deploymentId": "d-')
        return Response(
            json.dumps(reply),
            status_code=status,
            media_type=CONTENT_TYPE,
            headers={"x-amzn-RequestId": request_id},
        )

    async def _sts(request: Request, request_id: str) -> Response:
        """STS: form-encoded ``Action=AssumeRole``, answered in XML."""
        emulator.calls["AssumeRole"] += 1
        try:
            form = dict(parse_qsl((await request.body()).decode(errors="replace")))
            if form.get("Action") != "AssumeRole":
                raise AwsError("InvalidAction", f"Could not find operation {form.get('Action')}")
            if "authorization" not in request.headers:
                raise AwsError("MissingAuthenticationToken", "Request is missing credentials.")
            body, status = emulator.sts.assume_role(form), 200
        except AwsError as error:
            body, status = error_xml(error, request_id), error.status
        return Response(
            body,
            status_code=status,
            media_type="text/xml",
            headers={"x-amzn-RequestId": request_id},
        )

    async def calls(_: Request) -> Response:
        """How many calls each operation answered: benchmarks count upstream calls here."""
        return Response(json.dumps(emulator.calls), media_type="application/json")

    async def put_deployment(request: Request) -> Response:
        """Replaces a deployment with the JSON body (as the data file holds one): how a
        test or a demo changes what CodeDeploy answers from outside the process."""
        deployment_id = request.path_params["deployment_id"]
        account = request.query_params.get("account", emulator.data.account_id)
        member = emulator.at(account, request.query_params.get("region", "us-east-1"))
        try:
            raw = json.loads(await request.body())
            deployment = EmulatorData.from_json({"deployments": {deployment_id: raw}})
        except (ValueError, DataError) as exc:
            return Response(str(exc), status_code=400, media_type="text/plain")
        member.data.rolling.pop(deployment_id, None)
        member.data.deployments[deployment_id] = deployment.deployments[deployment_id]
        return Response(status_code=204)

    return Starlette(
        routes=[
            Route("/", endpoint, methods=["POST"]),
            Route("/_emulator/calls", calls, methods=["GET"]),
            Route("/_emulator/deployments/{deployment_id}", put_deployment, methods=["PUT"]),
        ]
    )
