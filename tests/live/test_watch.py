"""One watcher on its own, over the emulator: what it reads, how it numbers changes, and
how it defers to a coordinator that does not let it lead."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

from service.errors import GatewayError
from service.live import Change, Coordinator, SingleReplica, Watched, Watcher
from service.metrics import Metrics
from service.reads import Resolver
from tests.support import FAILED, Upstream, standalone_resolver

FINISHED = FAILED[0]


class Following:
    """A coordinator that never lets this replica lead: it counts what it is asked."""

    def __init__(self) -> None:
        self.followed = 0

    def bind(
        self,
        watcher: Callable[[Watched], Watcher | None],
        changed: Callable[[Watched, str | None], object],
    ) -> None:
        pass

    async def lead(self, watcher: Watcher) -> bool:
        return False

    async def follow(self, watcher: Watcher) -> None:
        self.followed += 1
        watcher.fail(GatewayError("stop here"))  # so the test need not wait an interval

    async def publish(self, watcher: Watcher, changes: list[Change]) -> None:
        raise AssertionError("a follower publishes nothing")

    async def failed(self, watcher: Watcher, error: GatewayError) -> None:
        pass

    def release(self, watcher: Watcher) -> None:
        pass

    def tell(self, watched: Watched, item_id: str | None) -> None:
        pass


@asynccontextmanager
async def watching(
    reads: Resolver, coordinator: Coordinator | None = None
) -> AsyncIterator[Watcher]:
    watcher = Watcher(
        Watched(reads.where, FINISHED),
        reads,
        interval=300,
        metrics=Metrics(),
        on_idle=lambda _watcher: None,
        coordinator=coordinator or SingleReplica(),
    )
    watcher.join()
    try:
        yield watcher
    finally:
        watcher.close()


async def test_alone_the_first_read_numbers_the_deployment_and_each_instance(
    upstream: Upstream,
) -> None:
    async with standalone_resolver() as reads, watching(reads) as watcher:
        await watcher.first_read
        changes = watcher.since(0)
    assert [change.seq for change in changes] == list(range(1, len(changes) + 1))
    assert changes[0].kind == "deployment"
    assert {change.kind for change in changes[1:]} == {"instance"}
    assert watcher.final  # d-EXAMPLE01 has finished: nothing follows


async def test_a_viewer_resumes_after_its_last_event_id_only(upstream: Upstream) -> None:
    async with standalone_resolver() as reads, watching(reads) as watcher:
        await watcher.first_read
        last = watcher.since(0)[1]
        assert watcher.position(last.event_id) == last.seq
        assert watcher.position(f"another-{last.seq}") == 0
        assert watcher.since(watcher.position(last.event_id))[0].seq == last.seq + 1


async def test_a_watcher_that_may_not_lead_follows_and_reads_nothing(upstream: Upstream) -> None:
    coordinator = Following()
    async with standalone_resolver() as reads, watching(reads, coordinator) as watcher:
        with suppress(GatewayError):
            await watcher.first_read
    assert coordinator.followed == 1
    assert upstream.calls() == 0
