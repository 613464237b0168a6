"""Rules that span features travel as domain events: who hears the blogs' events and the
social graph's, each heard after the change is stored (docs/architecture.md)."""

from __future__ import annotations

import inspect
import logging
from typing import Any, Callable

import asyncpg

from ..domain.blogs.live import LiveNewPosts
from ..domain.notifications.service import Notifications
from ..domain.social.events import FriendshipChanged, SocialEvent
from ..storage.postgres.new_post_readers import PgNewPostReaders
from ..ws.hub import Hub
from ..ws.new_posts import NewPostsToSockets

log = logging.getLogger("nirvana")

Listener = Callable[[Any], object]


class EventListeners:
    """A feature's domain events -> every listener, in the order they subscribed. A listener
    is a function or a coroutine function; one that fails is logged and does not stop the
    others, nor fail the change, which is already stored. (Account events have their own
    fan-out, `account_deletion.AccountEventFanOut`: the accounts domain publishes them
    without awaiting.)"""

    def __init__(self, *listeners: Listener) -> None:
        self.listeners: list[Listener] = list(listeners)

    def subscribe(self, listener: Listener) -> None:
        self.listeners.append(listener)

    async def publish(self, event: Any) -> None:
        for listener in self.listeners:
            try:
                result = listener(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("a domain event listener failed",
                              extra={"event": type(event).__name__,
                                     "blog_id": getattr(event, "blog_id", None)})


class PresenceFollowsFriendships:
    """Social events -> the hub: online friend lists follow every friendship that begins or
    ends, so presence never crosses a block, whatever entry point changed it."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    async def publish(self, event: SocialEvent) -> None:
        if isinstance(event, FriendshipChanged):
            self._hub.relation_changed(event.a, event.b, event.friends)


def blog_event_listeners(pool: asyncpg.Pool, notifications: Notifications,
                         hub: Hub) -> EventListeners:
    """Blog events (publication, reactions, comments) -> notifications, and the live
    new-post fan-out: MySocial's "add post", followers with a socket open hear of a new
    blog at once."""
    return EventListeners(
        notifications.handle,
        LiveNewPosts(PgNewPostReaders(pool), NewPostsToSockets(hub)).handle)


def social_event_listeners(hub: Hub, notifications: Notifications) -> EventListeners:
    """Social events -> presence (online friend lists follow every friendship), then
    notifications (requests, follows)."""
    return EventListeners(PresenceFollowsFriendships(hub).publish, notifications.handle)
