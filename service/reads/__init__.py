"""The resolver layer: the one path from both faces to CodeDeploy.

``routing`` picks an account region's resolver for a caller; ``resolver`` makes the
reads through ``caches`` (whose lifetimes are the caching policy); ``stats`` counts a
group's deployments; ``costs`` says what each read costs CodeDeploy.
"""

from service.reads.caches import Caches, Lifetimes, make_caches
from service.reads.resolver import MAX_BATCH_IDS, FleetReads, Resolver, filters
from service.reads.routing import Resolvers
from service.reads.stats import GroupStats, group_stats

__all__ = [
    "MAX_BATCH_IDS",
    "Caches",
    "FleetReads",
    "GroupStats",
    "Lifetimes",
    "Resolver",
    "Resolvers",
    "filters",
    "group_stats",
    "make_caches",
]
