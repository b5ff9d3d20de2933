"""What each read costs CodeDeploy, in calls, when nothing is cached: written once here
and used by the REST budget, the GraphQL estimate, the watchers' first reads and the
statistics bound, so what a caller is charged is what the reads can make."""

from service.codedeploy import BATCH_LIMIT, LIST_PAGE_SIZE, NAMES_BATCH_LIMIT

# Any single Get* read, and any one page of a List* read.
ONE = 1


def batch(ids: int, per_call: int = BATCH_LIMIT) -> int:
    """A batch read of ``ids`` uncached ids: deployments, instances and targets 25 a call;
    applications and groups ``NAMES_BATCH_LIMIT`` (100)."""
    return -(-ids // per_call)


def read_alone(upstream_api: str) -> frozenset[str]:
    """The kinds whose batch reads CodeDeploy fails whole for one unknown id
    (BatchGetApplications, BatchGetDeploymentTargets; instances too when the gateway reads
    them through the target calls): the gateway then reads each id of the batch alone, so
    an id a caller chose costs, at worst, one call beyond its batch."""
    return frozenset(
        {"application", "target", *(["instance"] if upstream_api == "targets" else [])}
    )


def chosen_batch(ids: int, *, alone: bool) -> int:
    """A batch read of ``ids`` a caller chose (not ids a list gave): ``alone`` for a kind
    of ``read_alone``."""
    return batch(ids) + (ids if alone else 0)


def names_batch(names: int) -> int:
    """A batch read of applications or deployment groups."""
    return batch(names, NAMES_BATCH_LIMIT)


def list_pages(count: int, *, after: bool) -> int:
    """List pages a window of ``count`` ids reads at most: ⌈count / page⌉ from the
    first page; from a cursor, which may sit anywhere in its page, one more."""
    return max(1, -(-count // LIST_PAGE_SIZE) + after)


def page_of_items(ids: int) -> int:
    """A list page with each of its ``ids`` batch-read (the ``…-summaries`` lists)."""
    return ONE + batch(ids)


# A page of deployment groups with each group batch-read: a page holds at most as many
# names as one batch read takes.
PAGE_OF_GROUPS = ONE + names_batch(LIST_PAGE_SIZE)

# Deployments a group's statistics read at most: their list pages and batch reads.
MAX_STATS_DEPLOYMENTS = 500
STATS = list_pages(MAX_STATS_DEPLOYMENTS, after=False) + batch(MAX_STATS_DEPLOYMENTS)


def watch(items: int, *, max_pages: int) -> int:
    """A watcher's read of a deployment with ``items`` instances or targets: the
    deployment, its id pages (``max_pages`` at most) and a batch read of every item."""
    return ONE + min(max_pages, list_pages(items, after=False)) + batch(items)
