"""`python -m service wait`: a pipeline's wait, against a real gateway on a real socket
(the command is blocking, so it runs in a thread beside the gateway's loop)."""

import asyncio
import io
import json

import pytest

from service import ci
from service.__main__ import main
from service.guard import hash_key
from tests.support import FAILED, FINISHED, LIVE, Live, LiveFactory


async def wait(
    live: Live, deployment_id: str, seconds: float, key: str | None = None
) -> tuple[int, str]:
    out = io.StringIO()
    waiter = ci.Waiter(ci.Gateway(live.gateway.url, key), deployment_id, out)
    code = await asyncio.to_thread(waiter.run, seconds)
    return code, out.getvalue()


async def test_a_failed_deployment_exits_1_with_the_failed_scripts_log_tail(live: Live) -> None:
    code, printed = await wait(live, FINISHED, 60)
    assert code == ci.FAILED
    assert f"{FINISHED} Failed" in printed
    assert f"{FAILED[1]}: ApplicationStart failed (ScriptFailed)" in printed
    assert "DATABASE_URL is not set" in printed  # the log tail


async def test_a_deployment_that_succeeds_exits_0_printing_each_change(live: Live) -> None:
    async with live.client() as client:
        await client.get(f"/v1/deployments/{LIVE}", params={"wait": 0})  # its watcher's first read
    waited = asyncio.create_task(wait(live, LIVE, 60))
    async with asyncio.timeout(10):
        while live.watchers.subscriptions < 1:  # noqa: ASYNC110 - a sync point, no event for it
            await asyncio.sleep(0.01)
    for _ in range(4):  # one instance after another
        live.clock.advance(15)
        live.changed()
        await asyncio.sleep(0)
    code, printed = await waited
    assert code == ci.SUCCEEDED
    lines = printed.splitlines()
    assert lines[0].startswith(f"{LIVE} InProgress")
    assert lines[-1].startswith(f"{LIVE} Succeeded")


async def test_a_deployment_still_running_at_the_timeout_exits_2(live: Live) -> None:
    code, printed = await wait(live, LIVE, 1)
    assert code == ci.TIMED_OUT
    assert "did not finish before the timeout" in printed


async def test_an_unknown_deployment_is_refused_with_3(live: Live) -> None:
    code, printed = await wait(live, "d-NOTHERE00", 60)
    assert code == ci.REFUSED
    assert "404 DEPLOYMENT_NOT_FOUND" in printed


async def test_a_gateway_that_cannot_be_reached_exits_3() -> None:
    out, ticks = io.StringIO(), iter(range(1000))
    waiter = ci.Waiter(
        ci.Gateway("http://127.0.0.1:9"),  # nothing listens on the discard port
        LIVE,
        out,
        clock=lambda: float(next(ticks)),  # each retry a second later, without waiting
        sleep=lambda _: None,
    )
    assert await asyncio.to_thread(waiter.run, 5) == ci.REFUSED
    assert "cannot be reached" in out.getvalue()


async def test_the_key_comes_from_the_environment(
    make_live: LiveFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with make_live(auth="api-key", api_keys=json.dumps({"ci": hash_key("ci-key")})) as live:
        refused, printed = await wait(live, FINISHED, 60)
        allowed, _ = await wait(live, FINISHED, 60, key="ci-key")
    assert (refused, allowed) == (ci.REFUSED, ci.FAILED)
    assert "401 MISSING_CREDENTIALS" in printed
    monkeypatch.setenv(ci.KEY_VARIABLE, "ci-key")
    monkeypatch.setattr(ci.Waiter, "run", lambda self, timeout: 7 if self.gateway.key else 8)
    assert main(["wait", FINISHED, "--gateway", "http://gateway", "--timeout", "45m"]) == 7


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("45m", 2700), ("2h", 7200), ("300", 300), ("1.5m", 90)]
)
def test_durations(text: str, seconds: float) -> None:
    assert ci.duration(text) == seconds


def test_a_duration_that_is_not_one_is_refused() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        ci.duration("soon")


def test_a_wait_rides_out_a_gateway_restart() -> None:
    """Unreachable, then starting (503), then the answer: the wait goes on through both."""
    final = {"deploymentInfo": {"deploymentId": LIVE, "status": "Succeeded"}}
    answers: list[ci.Answer | ci.Unreachable] = [
        ci.Unreachable("connection refused"),
        ci.Answer(503, {"retry-after": "1"}, {"code": "NOT_READY"}),
        ci.Answer(200, {"etag": '"1"'}, final),
    ]

    class Restarting(ci.Gateway):
        def get(
            self, path: str, params: dict[str, str], headers: dict[str, str], timeout: float
        ) -> ci.Answer:
            answer = answers.pop(0)
            if isinstance(answer, ci.Unreachable):
                raise answer
            return answer

    out = io.StringIO()
    waiter = ci.Waiter(Restarting("http://gateway"), LIVE, out, sleep=lambda _: None)
    assert waiter.run(60) == ci.SUCCEEDED
    assert out.getvalue().splitlines() == [
        "the gateway cannot be reached (connection refused); retrying",
        "the gateway answered 503; retrying",
        f"{LIVE} Succeeded",
    ]


def test_what_is_not_a_gateway_is_refused_not_waited_on() -> None:
    class Elsewhere(ci.Gateway):
        def get(
            self, path: str, params: dict[str, str], headers: dict[str, str], timeout: float
        ) -> ci.Answer:
            return ci.Answer(200, {}, {})  # a page that is not the gateway's

    out = io.StringIO()
    assert ci.Waiter(Elsewhere("http://gateway"), LIVE, out).run(60) == ci.REFUSED
    assert "not as a codedeploy-gateway does" in out.getvalue()
    assert ci.Waiter(ci.Gateway("gateway.internal"), LIVE, io.StringIO()).run(60) == ci.REFUSED


def test_a_usage_error_is_refused_not_timed_out(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["wait", LIVE, "--timeout", "soon"]) == ci.REFUSED
    assert "--gateway" in capsys.readouterr().err
