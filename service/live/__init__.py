"""Live updates: watchers that read a deployment once for all its viewers, and the
event streams that carry their changes."""

from service.live.watch import Change, View, Watched, Watcher, Watchers

__all__ = ["Change", "View", "Watched", "Watcher", "Watchers"]
