"""An assumed role's credentials, fetched ahead of their expiry so that no request waits
for STS once the first ones are here. STS is the emulator's, over real HTTP; time, for the
credentials, the background fetch and the emulator alike, is the test's."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiobotocore.config import AioConfig
from aiobotocore.credentials import AioRefreshableCredentials
from aiobotocore.session import AioSession

from service.codedeploy.credentials import (
    ADVISORY,
    FETCH_AHEAD,
    MANDATORY,
    REFUSAL_HOLD_SECONDS,
    RETRY_SECONDS,
    SESSION_SECONDS,
    AssumedRole,
    Hold,
)
from service.emulator import Emulator, load_data, serve_emulator
from service.emulator.data import InjectedError
from service.errors import Throttled, UpstreamAccessDenied, UpstreamError
from tests.support import until

ROLE = "arn:aws:iam::222222222222:role/codedeploy-gateway-read"
SESSION = timedelta(seconds=SESSION_SECONDS)


class Time:
    """A clock that moves when the test says, and a sleep that wakes when it has moved
    far enough."""

    def __init__(self) -> None:
        self.moment = datetime.now(UTC).replace(microsecond=0)
        self.sleeping = 0
        self._moved = asyncio.Event()

    def __call__(self) -> datetime:
        return self.moment

    def epoch(self) -> float:
        return self.moment.timestamp()

    async def sleep(self, seconds: float) -> None:
        until = self.moment + timedelta(seconds=seconds)
        self.sleeping += 1
        try:
            while self.moment < until:
                await self._moved.wait()
        finally:
            self.sleeping -= 1

    async def advance(self, delta: timedelta) -> None:
        """Moves on once the background fetch sleeps, so it sleeps from the moment before."""
        await until(lambda: self.sleeping > 0)
        self.moment += delta
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()


@pytest.fixture
def time() -> Time:
    return Time()


@pytest.fixture
async def sts(time: Time) -> AsyncIterator[tuple[Emulator, object]]:
    emulator = Emulator(load_data(), clock=time.epoch)
    async with serve_emulator(emulator) as url:
        session = AioSession()
        # No retries: each call the emulator counts is one AssumeRole of the gateway's.
        config = AioConfig(retries={"mode": "standard", "total_max_attempts": 1})
        async with session.create_client(
            "sts", region_name="us-east-1", endpoint_url=url, config=config
        ) as client:
            yield emulator, client


@pytest.fixture
async def role(sts: tuple[Emulator, object], time: Time) -> AsyncIterator[AssumedRole]:
    _, client = sts
    assumed = AssumedRole(
        client,  # type: ignore[arg-type]
        alias="staging",
        role_arn=ROLE,
        external_id=None,
        timeout_seconds=5,
        hold=Hold(time.epoch),
        now=time,
        sleep=time.sleep,
    )
    yield assumed
    await assumed.close()


async def key(credentials: AioRefreshableCredentials) -> str:
    frozen = await credentials.get_frozen_credentials()
    assert frozen.access_key is not None
    return frozen.access_key


def calls(emulator: Emulator) -> int:
    return emulator.calls["AssumeRole"]


async def test_the_next_credentials_are_fetched_before_any_request_needs_them(
    sts: tuple[Emulator, object], role: AssumedRole, time: Time
) -> None:
    emulator, _ = sts
    credentials = await role.start()
    first = await key(credentials)
    await time.advance(SESSION - FETCH_AHEAD)
    await until(lambda: calls(emulator) == 2)  # fetched ahead, unasked
    assert await key(credentials) == first  # 20 minutes left: botocore keeps the first
    # Inside botocore's refresh window, its refresh takes the set fetched ahead:
    # a new key, without a call to STS.
    await time.advance(FETCH_AHEAD - ADVISORY + timedelta(seconds=1))
    refreshed = await key(credentials)
    assert refreshed != first
    assert calls(emulator) == 2
    assert emulator.sts.signer(f"Credential={refreshed}/20261128/eu-west-1/x/aws4_request") == (
        emulator.sts.signer(f"Credential={first}/20261128/eu-west-1/x/aws4_request")
    )


async def test_an_account_left_unread_for_hours_is_read_with_fresh_credentials(
    sts: tuple[Emulator, object], role: AssumedRole, time: Time
) -> None:
    emulator, _ = sts
    credentials = await role.start()
    first = await key(credentials)
    # Nobody reads it for four sessions' time: every set fetched ahead expires unused.
    for fetched in range(2, 8):
        await time.advance(SESSION - FETCH_AHEAD)
        await until(lambda fetched=fetched: calls(emulator) == fetched)  # type: ignore[misc]
    now = await key(credentials)
    assert now != first
    assert calls(emulator) == 7  # the next read took the newest set without a call
    # The key the read signs with is one STS still honours.
    assert emulator.sts.signer(f"Credential={now}/20261128/us-east-1/x/aws4_request").account == (
        "222222222222"
    )


async def test_while_fetching_ahead_fails_a_request_waits_only_in_the_last_minutes(
    sts: tuple[Emulator, object], role: AssumedRole, time: Time
) -> None:
    emulator, _ = sts
    credentials = await role.start()
    first = await key(credentials)
    emulator.data.roles[ROLE].refuse = InjectedError(type="AccessDenied", status=403)
    await time.advance(SESSION - FETCH_AHEAD)
    await until(lambda: calls(emulator) == 2)  # refused
    await time.advance(timedelta(seconds=RETRY_SECONDS))
    await until(lambda: calls(emulator) == 3)  # tried again, refused again
    # In botocore's advisory window the set in hand serves, with no call on the way.
    await time.advance(
        FETCH_AHEAD - ADVISORY - timedelta(seconds=RETRY_SECONDS) + timedelta(seconds=1)
    )
    await until(lambda: calls(emulator) == 4)  # the background retry, on its own
    assert await key(credentials) == first
    assert calls(emulator) == 4
    # Fewer than ten minutes left: the request itself asks, and is refused.
    await time.advance(ADVISORY - MANDATORY)
    with pytest.raises(UpstreamAccessDenied):
        await key(credentials)
    # Asked again at once, the refusal is the answer: no call.
    asked = calls(emulator)
    for _ in range(5):
        with pytest.raises(UpstreamAccessDenied):
            await key(credentials)
    assert calls(emulator) == asked
    # The trust policy fixed: once the hold is over, the next request gets a new set.
    emulator.data.roles[ROLE].refuse = None
    await time.advance(timedelta(seconds=REFUSAL_HOLD_SECONDS))
    assert await key(credentials) != first


async def test_a_refused_role_is_a_502_without_its_arn(
    sts: tuple[Emulator, object], role: AssumedRole
) -> None:
    emulator, _ = sts
    emulator.data.roles[ROLE].refuse = InjectedError(type="AccessDenied", status=403)
    with pytest.raises(UpstreamAccessDenied) as refused:
        await role.start()
    assert refused.value.status == 502
    assert "staging" in refused.value.detail
    assert "222222222222" not in refused.value.detail
    assert "arn:" not in refused.value.detail


@pytest.mark.parametrize(
    ("injected", "error", "code"),
    [
        (InjectedError(type="Throttling", status=400), Throttled, "THROTTLED"),
        (InjectedError(type="InternalFailure", status=500), UpstreamError, "UPSTREAM_ERROR"),
        (InjectedError(type="RegionDisabledException", status=403), UpstreamError, None),
        (InjectedError(type="InvalidClientTokenId", status=403), UpstreamAccessDenied, None),
    ],
    ids=["throttled", "sts-failing", "region-disabled", "own-identity"],
)
async def test_sts_errors_are_told_by_kind_naming_only_the_alias(
    sts: tuple[Emulator, object],
    role: AssumedRole,
    injected: InjectedError,
    error: type[UpstreamError],
    code: str | None,
) -> None:
    emulator, _ = sts
    emulator.data.roles[ROLE].refuse = injected
    with pytest.raises(error) as failed:
        await role.start()
    assert type(failed.value) is error
    assert failed.value.code == (code or error.default_code)
    assert failed.value.upstream_code == injected.type
    assert "'staging'" in failed.value.detail
    assert "222222222222" not in failed.value.detail
    # Which credentials to fix: the gateway's own, or the role's trust.
    assert ("own AWS identity" in failed.value.detail) == (injected.type == "InvalidClientTokenId")


async def test_an_external_id_is_sent_when_the_role_wants_one(
    sts: tuple[Emulator, object],
) -> None:
    emulator, client = sts
    emulator.data.roles[ROLE].external_id = "org-7f3a"

    def role(external_id: str | None) -> AssumedRole:
        return AssumedRole(
            client,  # type: ignore[arg-type]
            alias="staging",
            role_arn=ROLE,
            external_id=external_id,
            timeout_seconds=5,
        )

    with pytest.raises(UpstreamAccessDenied):
        await role(None).start()
    accepted = role("org-7f3a")
    await accepted.start()
    await accepted.close()
