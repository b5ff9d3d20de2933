"""ResultCache on its own: lifetimes, errors, single-flight, bounds."""

import asyncio
import contextvars
from functools import partial
from typing import Any

import pytest

from service.cache import ResultCache
from service.errors import ErrorCode, GatewayError, NotFound, Throttled, UpstreamError
from service.freshness import Reading, in_background, in_the_background, reading
from service.reads.caches import Lifetimes
from tests.support import FakeClock


class Loader:
    """Counts loads; returns "value-N" or raises the error it is given."""

    def __init__(self, error: GatewayError | None = None) -> None:
        self.loads = 0
        self.error = error
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self) -> str:
        self.loads += 1
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        return f"value-{self.loads}"


def make_cache(clock: FakeClock, max_entries: int = 10, **stale: Any) -> ResultCache[str]:
    return ResultCache(
        max_entries=max_entries,
        value_ttl=lambda value: 0.0 if value.startswith("nocache") else 10.0,
        error_ttl=lambda error: 5.0 if isinstance(error, NotFound) else 0.0,
        clock=clock,
        # As the resolver's caches: a passing failure leaves the stored answer alone.
        stale_on=Lifetimes.stands_in,
        **stale,
    )


async def test_second_read_is_a_hit_with_remaining_max_age(clock: FakeClock) -> None:
    cache, load = make_cache(clock), Loader()
    first = await cache.get("k", load)
    clock.advance(3)
    second = await cache.get("k", load)
    assert (first.cache.hit, first.cache.max_age) == (False, 10)
    assert (second.value, second.cache.hit, second.cache.max_age) == ("value-1", True, 7)
    assert load.loads == 1


async def test_entry_expires_after_its_ttl(clock: FakeClock) -> None:
    cache, load = make_cache(clock), Loader()
    await cache.get("k", load)
    clock.advance(10.01)
    result = await cache.get("k", load)
    assert (result.value, result.cache.hit) == ("value-2", False)


async def test_not_found_is_cached_for_the_negative_ttl(clock: FakeClock) -> None:
    cache, load = make_cache(clock), Loader(NotFound("gone", request_id="r-1"))
    with pytest.raises(NotFound):
        await cache.get("k", load)
    clock.advance(4)
    with pytest.raises(NotFound) as hit:
        await cache.get("k", load)
    assert load.loads == 1
    assert hit.value.cache is not None
    assert hit.value.cache.hit
    assert hit.value.request_id == "r-1"
    clock.advance(1.01)
    with pytest.raises(NotFound):
        await cache.get("k", load)
    assert load.loads == 2


async def test_upstream_failures_are_not_cached(clock: FakeClock) -> None:
    cache, load = make_cache(clock), Loader(UpstreamError("down"))
    for _ in range(2):
        with pytest.raises(UpstreamError) as failure:
            await cache.get("k", load)
        assert failure.value.cache is None
    assert load.loads == 2


async def test_a_failed_refresh_keeps_the_stored_answer(clock: FakeClock) -> None:
    cache, load = make_cache(clock), Loader()
    await cache.get("k", load)
    load.error = UpstreamError("down")
    with pytest.raises(UpstreamError):
        await cache.get("k", load, refresh=True)
    load.error = None
    assert (await cache.get("k", load)).value == "value-1"


async def test_a_refusal_drops_the_stored_answer_so_nothing_stale_hides_it(
    clock: FakeClock,
) -> None:
    cache, load = make_cache(clock, stale_if_error=300), Loader()
    await cache.get("k", load)
    clock.advance(11)
    load.error = UpstreamError("denied", code=ErrorCode.UPSTREAM_ACCESS_DENIED)
    with pytest.raises(UpstreamError):
        await cache.get("k", load)
    load.error = Throttled("slow down")
    with pytest.raises(Throttled):  # no older value stands in for it any more
        await cache.get("k", load)


async def test_a_watchers_batch_read_stays_in_the_background(clock: FakeClock) -> None:
    cache = make_cache(clock)
    seen: list[bool] = []

    async def load_many(keys: list[str]) -> dict[str, str]:
        seen.append(in_background())
        return {key: f"value-{key}" for key in keys}

    async def watcher() -> None:
        reading.set(Reading(background=True))
        await cache.get_many(["a", "b"], load_many, refresh=True)

    await asyncio.create_task(watcher(), context=contextvars.Context())
    await cache.get_many(["c"], load_many)
    assert seen == [True, False]


async def test_a_caller_joining_a_background_read_makes_it_a_callers(clock: FakeClock) -> None:
    cache = make_cache(clock)
    gate = asyncio.Event()
    priorities: list[bool] = []

    async def load() -> str:
        await gate.wait()
        priorities.append(in_background())  # as the budget's wait looks again
        current = reading.get()
        assert current is not None
        return "value" if current.background else "caller's"

    async def watcher() -> str:
        reading.set(Reading(background=True))
        return (await cache.get("k", load)).value

    behind = asyncio.create_task(watcher(), context=contextvars.Context())
    await asyncio.sleep(0)  # the watcher's read is under way
    caller = asyncio.create_task(cache.get("k", load))
    await asyncio.sleep(0)
    gate.set()
    assert (await behind, (await caller).value) == ("caller's", "caller's")


async def test_refresh_bypasses_and_replaces_the_entry(clock: FakeClock) -> None:
    cache, load = make_cache(clock), Loader()
    await cache.get("k", load)
    refreshed = await cache.get("k", load, refresh=True)
    after = await cache.get("k", load)
    assert (refreshed.value, refreshed.cache.hit) == ("value-2", False)
    assert (after.value, after.cache.hit) == ("value-2", True)


async def test_concurrent_misses_share_one_load(clock: FakeClock) -> None:
    cache, load = make_cache(clock), Loader()
    load.gate.clear()
    waiters = [asyncio.create_task(cache.get("k", load)) for _ in range(50)]
    await asyncio.sleep(0)
    load.gate.set()
    results = await asyncio.gather(*waiters)
    assert load.loads == 1
    assert {result.value for result in results} == {"value-1"}


async def test_a_cancelled_caller_does_not_cancel_the_shared_load(clock: FakeClock) -> None:
    cache, load = make_cache(clock), Loader()
    load.gate.clear()
    first = asyncio.create_task(cache.get("k", load))
    second = asyncio.create_task(cache.get("k", load))
    await asyncio.sleep(0)
    first.cancel()
    load.gate.set()
    assert (await second).value == "value-1"
    assert first.cancelled()


async def test_zero_ttl_answers_are_not_stored(clock: FakeClock) -> None:
    cache = make_cache(clock)
    loads = 0

    async def load() -> str:
        nonlocal loads
        loads += 1
        return "nocache"

    await cache.get("k", load)
    result = await cache.get("k", load)
    assert (loads, result.cache.hit, result.cache.max_age) == (2, False, 0)


async def test_size_is_bounded(clock: FakeClock) -> None:
    cache, load = make_cache(clock, max_entries=2), Loader()
    for key in ("a", "b", "c"):
        await cache.get(key, load)
    assert len(cache) == 2


class ManyLoader:
    """Answers "value-<key>", or a NotFound for keys starting with "gone"; counts calls."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, keys: list[str]) -> dict[str, str | GatewayError]:
        self.calls.append(keys)
        await self.gate.wait()
        return {
            key: NotFound(f"no {key}") if key.startswith("gone") else f"value-{key}" for key in keys
        }


async def test_get_many_loads_only_what_is_not_stored(clock: FakeClock) -> None:
    cache, load = make_cache(clock), ManyLoader()
    await cache.get_many(["a", "b"], load)
    results = await cache.get_many(["a", "c", "b", "a"], load)
    assert load.calls == [["a", "b"], ["c"]]
    values = [result.value for result in results if not isinstance(result, GatewayError)]
    assert values == ["value-a", "value-c", "value-b", "value-a"]


async def test_get_many_fills_the_entries_single_reads_use(clock: FakeClock) -> None:
    cache, load = make_cache(clock), ManyLoader()
    await cache.get_many(["a"], load)
    assert (await cache.get("a", Loader())).cache.hit


async def test_get_many_answers_and_caches_an_error_per_key(clock: FakeClock) -> None:
    cache, load = make_cache(clock), ManyLoader()
    first = await cache.get_many(["a", "gone"], load)
    second = await cache.get_many(["gone"], load)
    assert isinstance(first[1], NotFound)
    assert isinstance(second[0], NotFound)
    assert second[0].cache is not None
    assert second[0].cache.hit
    assert load.calls == [["a", "gone"]]


async def test_get_many_fails_every_key_when_the_whole_load_fails(clock: FakeClock) -> None:
    cache = make_cache(clock)

    async def failing(keys: list[str]) -> dict[str, str | GatewayError]:
        raise UpstreamError("down")

    results = await cache.get_many(["a", "b"], failing)
    assert all(isinstance(result, UpstreamError) for result in results)
    assert len(cache) == 0


async def test_concurrent_get_many_join_each_others_keys(clock: FakeClock) -> None:
    cache, load = make_cache(clock), ManyLoader()
    load.gate.clear()
    first = asyncio.create_task(cache.get_many(["a", "b"], load))
    await asyncio.sleep(0)
    second = asyncio.create_task(cache.get_many(["b", "c"], load))
    single = asyncio.create_task(cache.get("a", Loader()))
    await asyncio.sleep(0)
    load.gate.set()
    await asyncio.gather(first, second, single)
    assert load.calls == [["a", "b"], ["c"]]
    assert (await single).value == "value-a"


async def test_the_cache_is_bounded_in_bytes_as_well_as_entries(clock: FakeClock) -> None:
    cache: ResultCache[str] = ResultCache(
        max_entries=1000,
        max_bytes=10 * 1024,
        size=len,
        value_ttl=lambda _value: 10.0,
        error_ttl=lambda _error: 0.0,
        clock=clock,
    )
    for n in range(20):
        await cache.get(n, partial(_value, f"{n:04d}" * 250))  # 1 KB values
    assert len(cache) == 6  # 10 KiB over 1 KB + the entry's own 512 bytes
    huge = await cache.get("huge", lambda: _value("x" * 20_000))
    assert huge.cache.max_age == 0  # answered, but larger than the whole cache
    assert cache.peek("huge") is None


async def test_a_stored_error_keeps_no_traceback_or_cause(clock: FakeClock) -> None:
    cache = make_cache(clock)

    async def failing() -> str:
        try:
            raise KeyError("botocore's own")
        except KeyError as cause:
            raise NotFound("gone", code=ErrorCode.INSTANCE_NOT_FOUND) from cause

    with pytest.raises(NotFound):
        await cache.get("k", failing)
    stored = cache._entries["k"].error
    assert stored is not None
    assert (stored.__traceback__, stored.__cause__, stored.__context__) == (None, None, None)


async def _value(text: str) -> str:
    return text


async def test_a_peek_counts_a_hit_only_for_what_it_returns(clock: FakeClock) -> None:
    events: list[str] = []
    cache: ResultCache[str] = ResultCache(
        max_entries=10,
        value_ttl=lambda _value: 10.0,
        error_ttl=lambda _error: 5.0,
        clock=clock,
        observe=events.append,
    )
    with pytest.raises(NotFound):
        await cache.get("gone", Loader(NotFound("gone")))
    assert cache.peek("gone") is None  # a stored 404: declined, and not counted
    assert cache.peek("never") is None
    await cache.get("k", Loader())
    assert cache.peek("k") is not None
    assert events == ["miss", "miss", "hit"]


REQUEST: contextvars.ContextVar[str | None] = contextvars.ContextVar("request", default=None)


async def test_background_work_is_nobodys_request() -> None:
    """What runs behind requests (watchers, feeds, webhooks, refreshes) sees none of the
    request that started it, and its reads go after callers'."""
    seen: list[object] = []

    async def work() -> None:
        seen.extend([REQUEST.get(), reading.get()])

    token = REQUEST.set("a request's")
    try:
        await in_the_background(work())
        given = Reading(background=True, fallback=True)
        await in_the_background(work(), read=given)
    finally:
        REQUEST.reset(token)
    assert seen == [None, Reading(background=True), None, given]
    assert seen[3] is given
