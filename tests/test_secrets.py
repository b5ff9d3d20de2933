"""Secrets hygiene: every error path, and not one credential in a body, header or log line.

The secrets: the AWS credentials the gateway signs with, API keys (right and wrong), the
metrics key, and bearer tokens (valid, expired, forged).
"""

import json
import logging
import time
from collections.abc import Iterator

import httpx
import pytest

from service.emulator.data import InjectedError
from service.logs import JsonFormatter, configure_logging
from tests.identity import API_KEY, API_KEYS, OTHER_KEY, IdentityProvider, bearer
from tests.support import (
    ACCESS_KEY_ID,
    FAILED,
    SECRET_ACCESS_KEY,
    FakeClock,
    GatewayFactory,
    Upstream,
    run_service,
)

METRICS_KEY = "metrics-key-never-shown-0123456789"
WRONG_KEY = "wrong-key-never-shown-0123456789abcdef"
INSTANCE = "/v1/deployments/{}/instances/{}".format(*FAILED)


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Logging as production configures it, at debug level, captured."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("debug", json_lines=True)
    configured = root.handlers[0]
    root.addHandler(caplog.handler)
    caplog.handler.setLevel(logging.DEBUG)
    try:
        yield caplog
    finally:
        configured.close()
        root.handlers[:] = handlers
        root.setLevel(level)
        for name in ("botocore", "aiobotocore"):
            logging.getLogger(name).setLevel(logging.NOTSET)


def seen(response: httpx.Response) -> str:
    return "\n".join([response.text, *(f"{k}: {v}" for k, v in response.headers.items())])


async def test_no_error_path_shows_a_secret(
    upstream: Upstream, make_gateway: GatewayFactory, idp: IdentityProvider,
    logged: pytest.LogCaptureFixture, clock: FakeClock,
) -> None:  # fmt: skip
    now = int(time.time())
    tokens = {
        "valid": idp.token(),
        "expired": idp.token(exp=now - 600),
        "wrong audience": idp.token(aud="elsewhere"),
        "forged kid": idp.token(headers={"kid": "forged"}),
    }
    settings = idp.settings(
        auth="api-key,jwt",
        api_keys=json.dumps(API_KEYS),
        metrics_api_key=METRICS_KEY,
        rate_limit_per_second=1,
        rate_limit_burst=3,
        # Generous: an injected refusal must come back as one on a loaded machine too.
        upstream_timeout_seconds=10,
    )
    answers: list[httpx.Response] = []
    async with make_gateway(**settings) as gateway:

        async def get(path: str, **headers: str) -> None:
            answers.append(await gateway.get(path, headers=headers))

        await get(INSTANCE)
        await get(INSTANCE, **bearer(WRONG_KEY))
        await get(INSTANCE, **{"X-API-Key": WRONG_KEY})
        await get(INSTANCE, Authorization=f"Basic {WRONG_KEY}")
        for token in tokens.values():
            await get(INSTANCE, **bearer(token))
            answers.append(
                await gateway.post("/graphql", json={"query": "{ __typename }"},
                                   headers=bearer(token + "x"))
            )  # fmt: skip
        await get("/metrics", **bearer(WRONG_KEY))
        await get("/metrics", **bearer(API_KEY))
        # The failures above throttle this address for a while (its own 429 is seen too).
        await get(INSTANCE, **{"X-API-Key": OTHER_KEY})
        clock.advance(60)
        # Upstream failures, asked for with a valid key.
        upstream.emulator.data.errors["/".join(FAILED)] = InjectedError(
            type="AccessDeniedException", message="User is not authorized", status=400
        )
        await get(INSTANCE + "?x=1", **{"X-API-Key": OTHER_KEY, "Cache-Control": "no-cache"})
        upstream.emulator.data.errors.clear()
        # A timeout, from a gateway with a short deadline: an answer 0.7 s later than it,
        # whatever the machine's speed.
        upstream.emulator.faults.latency_seconds = 1.0
        async with make_gateway(**{**settings, "upstream_timeout_seconds": 0.3}) as hurried:
            answers.append(
                await hurried.get(
                    INSTANCE, headers={"X-API-Key": OTHER_KEY, "Cache-Control": "no-cache"}
                )
            )
        upstream.emulator.faults.latency_seconds = 0
        # Over the rate limit, and an oversized body.
        for _ in range(3):
            await get(INSTANCE, **{"X-API-Key": OTHER_KEY})
        answers.append(
            await gateway.post(
                INSTANCE.rsplit("/", 1)[0] + ":batchGet", content=b"x" * 100_000,
                headers=bearer(API_KEY),
            )
        )  # fmt: skip
        answers.append(await gateway.get("/metrics", headers=bearer(METRICS_KEY)))

    statuses = {response.status_code for response in answers}
    assert {401, 413, 429, 502, 504} <= statuses
    formatter = JsonFormatter()
    logs = [formatter.format(record) for record in logged.records]
    assert any("UPSTREAM_ACCESS_DENIED" in response.text for response in answers)
    assert any(json.loads(line).get("caller") == "key:status-page" for line in logs)
    secrets = [ACCESS_KEY_ID, SECRET_ACCESS_KEY, API_KEY, OTHER_KEY, WRONG_KEY, METRICS_KEY]
    secrets += tokens.values()
    # A JWT's signature alone is enough to replay it.
    secrets += [token.rsplit(".", 1)[1] for token in tokens.values()]
    for text in [*map(seen, answers), *logs]:
        for secret in secrets:
            assert secret not in text


@pytest.mark.parametrize(
    "env",
    [
        {"GATEWAY_AUTH": "api-key", "GATEWAY_API_KEYS": '{"billing": "' + WRONG_KEY + '"}'},
        {"GATEWAY_AUTH": "api-key", "GATEWAY_API_KEYS": "not json " + WRONG_KEY},
        {"GATEWAY_AUTH": "api-key", "GATEWAY_API_KEYS": "[" + json.dumps(WRONG_KEY) + "]"},
        {"GATEWAY_AUTH": "bogus", "GATEWAY_METRICS_API_KEY": WRONG_KEY},
        {"GATEWAY_AUTH": "none", "GATEWAY_UPSTREAM_MAX_ATTEMPTS": "0"},
    ],
)
@pytest.mark.processes
def test_configuration_errors_show_no_secret(env: dict[str, str]) -> None:
    result = run_service(**env)
    assert result.returncode == 2
    assert "configuration error" in result.stderr
    output = result.stdout + result.stderr
    for secret in (WRONG_KEY, ACCESS_KEY_ID, SECRET_ACCESS_KEY):
        assert secret not in output
    assert "Traceback" not in output
