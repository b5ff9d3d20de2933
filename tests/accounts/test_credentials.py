"""An assumed role's credentials, fetched ahead of their expiry so that no request waits
for STS once the first ones are here. STS is the emulator's, over real HTTP; the clock
the credentials are judged by is the test's."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiobotocore.session import AioSession

from service.codedeploy.credentials import ADVISORY, AssumedRole
from service.emulator import Emulator, load_data, serve_emulator
from service.errors import UpstreamAccessDenied
from tests.support import WAIT

ROLE = "arn:aws:iam::222222222222:role/codedeploy-gateway-read"


class Now:
    """The credentials' clock: the emulator's, moved by hand."""

    def __init__(self) -> None:
        self.moment = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.moment

    def epoch(self) -> float:
        return self.moment.timestamp()


@pytest.fixture
def now() -> Now:
    return Now()


@pytest.fixture
async def sts(now: Now) -> AsyncIterator[tuple[Emulator, object]]:
    data = load_data()
    # Credentials that live 19 minutes: under the 20 the gateway fetches ahead by.
    data.roles[ROLE].max_session_seconds = 19 * 60
    emulator = Emulator(data, clock=now.epoch)
    async with serve_emulator(emulator) as url:
        session = AioSession()
        async with session.create_client(
            "sts", region_name="us-east-1", endpoint_url=url
        ) as client:
            yield emulator, client


async def until(condition: object) -> None:
    async with asyncio.timeout(WAIT):
        while not condition():  # type: ignore[operator]  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_the_next_credentials_are_fetched_before_any_request_needs_them(
    sts: tuple[Emulator, object], now: Now
) -> None:
    emulator, client = sts
    role = AssumedRole(
        client,  # type: ignore[arg-type]
        alias="staging",
        role_arn=ROLE,
        external_id=None,
        timeout_seconds=5,
        now=now,
    )
    credentials = await role.start()
    first = await credentials.get_frozen_credentials()
    try:
        # The first set expires within 20 minutes: the next is fetched at once, unasked.
        await until(lambda: emulator.calls["AssumeRole"] == 2)
        # Still fresh: botocore keeps the first.
        assert (await credentials.get_frozen_credentials()).access_key == first.access_key
        # Inside botocore's refresh window, the refresh takes the set fetched ahead:
        # a new key, and no call to STS on the way.
        now.moment += timedelta(minutes=19) - ADVISORY + timedelta(seconds=1)
        calls = emulator.calls["AssumeRole"]
        refreshed = await credentials.get_frozen_credentials()
        assert refreshed.access_key != first.access_key
        assert (refreshed.access_key or "").startswith("ASIA")
        assert emulator.calls["AssumeRole"] in (calls, calls + 1)  # + the next one ahead
        assert (
            emulator.sts.signer(
                f"Credential={refreshed.access_key}/20261128/us-east-1/codedeploy/aws4_request"
            ).account
            == "222222222222"
        )
    finally:
        await role.close()


async def test_a_refused_role_is_a_502_without_its_arn(sts: tuple[Emulator, object]) -> None:
    _, client = sts
    role = AssumedRole(
        client,  # type: ignore[arg-type]
        alias="sandbox",
        role_arn="arn:aws:iam::333333333333:role/codedeploy-gateway-read",
        external_id=None,
        timeout_seconds=5,
    )
    with pytest.raises(UpstreamAccessDenied) as refused:
        await role.start()
    assert refused.value.status == 502
    assert "sandbox" in refused.value.detail
    assert "333333333333" not in refused.value.detail


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
