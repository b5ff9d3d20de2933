"""Where the client points: the standard AWS chain, untouched, plus AWS_REGION."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSPreparedRequest

from service.accounts import Account, Accounts
from service.codedeploy import CodeDeploy, UpstreamConfig, Upstreams, resolve_region
from service.codedeploy.clients import _tls_context
from service.metrics import Metrics
from service.settings import ConfigurationError, Settings
from tests.support import FAILED, Upstream


def config(**overrides: object) -> UpstreamConfig:
    values: dict[str, object] = {
        "max_attempts": 1,
        "timeout_seconds": 2.0,
        "max_connections": 4,
        "max_concurrency": 64,
    }
    values.update(overrides)
    return UpstreamConfig(**values)  # type: ignore[arg-type]


@asynccontextmanager
async def connect(config: UpstreamConfig, metrics: Metrics) -> AsyncIterator[CodeDeploy]:
    """The default account's CodeDeploy, in the region the settings or the chain give."""
    accounts = Accounts.alone(resolve_region(Settings(auth="none").aws_region))
    async with Upstreams(config, accounts, metrics) as upstreams:
        yield upstreams.get(accounts.default)


async def test_aws_region_alone_sets_the_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    async with connect(config(), Metrics()) as codedeploy:
        assert codedeploy.where.region == "eu-west-1"
        assert await codedeploy.calls.endpoint_url() == "https://codedeploy.eu-west-1.amazonaws.com"


async def test_aws_default_region_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-2")
    async with connect(config(), Metrics()) as codedeploy:
        assert codedeploy.where.region == "ap-southeast-2"


async def test_aws_region_wins_over_aws_default_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-2")
    async with connect(config(), Metrics()) as codedeploy:
        assert codedeploy.where.region == "eu-west-1"


def test_no_region_anywhere_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION")
    with pytest.raises(ConfigurationError, match="AWS_REGION"):
        resolve_region(None)


async def test_service_specific_endpoint_variable_is_honoured(upstream: Upstream) -> None:
    async with connect(config(), Metrics()) as codedeploy:
        summary = await codedeploy.instances.get(*FAILED)
        assert await codedeploy.calls.endpoint_url() == upstream.url
    assert summary.status == "Failed"


async def test_generic_endpoint_variable_is_honoured(
    upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL_CODEDEPLOY")
    monkeypatch.setenv("AWS_ENDPOINT_URL", upstream.url)
    async with connect(config(), Metrics()) as codedeploy:
        await codedeploy.instances.get(*FAILED)
    assert upstream.calls() == 1


async def test_profile_from_the_shared_config_is_honoured(
    upstream: Upstream, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "aws-config").write_text("[profile ops]\nregion = ca-central-1\n")
    (tmp_path / "aws-credentials").write_text(
        "[ops]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = profile-secret\n"
    )
    for name in ("AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_PROFILE", "ops")
    async with connect(config(), Metrics()) as codedeploy:
        await codedeploy.instances.get(*FAILED)
    assert codedeploy.where.region == "ca-central-1"
    assert upstream.calls() == 1


async def test_calls_in_flight_never_pass_the_concurrency_cap(upstream: Upstream) -> None:
    upstream.emulator.faults.latency_seconds = 0.02
    async with connect(config(max_concurrency=2, max_connections=8), Metrics()) as codedeploy:
        answers = await asyncio.gather(*(codedeploy.instances.get(*FAILED) for _ in range(8)))
    assert {answer.status for answer in answers} == {"Failed"}
    assert upstream.emulator.peak_in_flight == 2


async def test_waiting_for_a_slot_counts_against_the_deadline(upstream: Upstream) -> None:
    # One slot, 0.6 s a call, 1 s deadline: the second call gets the slot at 0.6 s and
    # would answer at 1.2 s, in time had its wait not counted; it counts, so it times out.
    upstream.emulator.faults.latency_seconds = 0.6
    settings = config(max_concurrency=1, timeout_seconds=1.0)
    async with connect(settings, Metrics()) as codedeploy:
        await codedeploy.calls.endpoint_url()  # opened: the client's making is not what is timed
        outcomes = await asyncio.gather(
            codedeploy.instances.get(*FAILED), codedeploy.instances.get(*FAILED),
            return_exceptions=True,
        )  # fmt: skip
    assert [type(outcome).__name__ for outcome in outcomes] == [
        "InstanceSummary",
        "UpstreamTimeout",
    ]


async def test_roles_are_assumed_at_their_regions_sts_endpoint() -> None:
    role = "arn:aws:iam::222222222222:role/codedeploy-gateway-read"
    account = Account(role_arn=role, regions=["eu-west-1", "ap-southeast-2"])
    accounts = Accounts({"staging": account}, "staging")
    async with Upstreams(config(), accounts, Metrics()) as upstreams:
        europe = await upstreams._sts_client("eu-west-1")
        sydney = await upstreams._sts_client("ap-southeast-2")
        assert europe.meta.endpoint_url == "https://sts.eu-west-1.amazonaws.com"
        assert sydney.meta.endpoint_url == "https://sts.ap-southeast-2.amazonaws.com"
        assert await upstreams._sts_client("eu-west-1") is europe


async def test_every_account_region_shares_one_tls_context(upstream: Upstream) -> None:
    """Each client would load the CA bundle into a context of its own (~0.8 MB each)."""
    _tls_context.cache_clear()
    regions = ["us-east-1", "eu-west-1", "ap-southeast-2"]
    accounts = Accounts({"prod": Account(regions=regions)}, "prod")
    async with Upstreams(config(), accounts, Metrics()) as upstreams:
        for target in accounts:
            await upstreams.get(target).get_deployment(FAILED[0])
    made = _tls_context.cache_info()
    assert (made.misses, made.hits) == (1, len(regions) - 1)


async def test_a_remembered_user_agent_is_the_one_botocore_builds(upstream: Upstream) -> None:
    """Each request's User-Agent, as sent, equals botocore's own for that call."""
    sent: list[str] = []

    def seen(request: AWSPreparedRequest, **_: object) -> None:
        agent = request.headers["User-Agent"]
        sent.append(agent.decode() if isinstance(agent, bytes) else agent)

    async with connect(config(), Metrics()) as codedeploy:
        client: Any = await codedeploy.calls._connected()
        client.meta.events.register("before-send.codedeploy", seen)
        await codedeploy.instances.get(*FAILED)
        await codedeploy.instances.get(*FAILED)  # the remembered one
        del client._user_agent_creator.to_string  # botocore's own builder again
        await codedeploy.instances.get(*FAILED)
    assert len(sent) == 3
    assert sent[0] == sent[1] == sent[2]
    assert "app/codedeploy-gateway" in sent[0]
    assert "cfg/retry-mode#standard" in sent[0]
