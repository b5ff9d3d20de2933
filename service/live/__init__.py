"""Live updates: watchers that read a deployment once for all its viewers, and the
event streams that carry their changes."""

from service.live.changes import Change, Watched
from service.live.watch import Coordinator, SingleReplica, View, Watcher
from service.live.watchers import Watchers

__all__ = ["Change", "Coordinator", "SingleReplica", "View", "Watched", "Watcher", "Watchers"]
