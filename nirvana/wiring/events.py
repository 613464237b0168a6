"""Rules that span features travel as domain events: who hears the blogs' events, the social
graph's, the accounts' and the chat's, each heard after the change is stored
(docs/architecture.md)."""

from __future__ import annotations

import inspect
import logging
from typing import Any, Callable, Protocol

import asyncpg

from ..domain.accounts.deletion import AccountDeleted, AccountEvents
from ..domain.blogs.live import LiveNewPosts
from ..domain.chat.entities import ChatEvent, Conversation, Message
from ..domain.notifications.service import Notifications
from ..domain.social.events import FriendshipChanged, SocialEvent
from ..storage.postgres.new_post_readers import PgNewPostReaders
from ..ws.hub import Hub
from ..ws.new_posts import NewPostsToSockets

log = logging.getLogger("nirvana")
# The names these failures were logged under before they moved here (operators filter on them).
accounts_log = logging.getLogger("nirvana.accounts")
watchers_log = logging.getLogger("nirvana.missed_messages")

Listener = Callable[[Any], object]


class EventListeners:
    """A feature's domain events -> every listener, in the order they subscribed. A listener
    is a function or a coroutine function; one that fails is logged and does not stop the
    others, nor fail the change, which is already stored. (Account events have their own
    fan-out, `AccountEventFanOut`: the accounts domain publishes them without awaiting.)"""

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


class AccountEventFanOut:
    """Accounts are built before the features that listen to them: listeners join later."""

    def __init__(self) -> None:
        self.listeners: list[AccountEvents] = []

    def publish(self, event: AccountDeleted) -> None:
        for listener in self.listeners:
            try:
                listener.publish(event)
            except Exception:  # one failing listener never stops the others
                accounts_log.exception("account event listener failed")


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


class PostedWatcher(Protocol):
    def message_posted(self, message: Message, conversation: Conversation) -> None:
        """Only queue: it runs in the send's path, after the message is stored."""
        ...


class ChatPublishers:
    """The chat service's publisher: the hub first (live delivery), then the watchers —
    each hears the calls it defines (message_posted, event_recorded, group_created). Every
    other call goes to the hub untouched."""

    def __init__(self, hub: Any, *watchers: object) -> None:
        self._hub = hub
        self._watchers = list(watchers)
        # Per call, the watchers that define it: looked up once, not on every message (a
        # getattr that misses costs an exception caught inside it).
        self._heard: dict[str, list[Callable[..., None]]] = {}

    def watch(self, watcher: PostedWatcher | object) -> None:
        self._watchers.append(watcher)
        self._heard.clear()

    def message_posted(self, message: Message, conversation: Conversation) -> None:
        self._hub.message_posted(message, conversation)
        self._tell("message_posted", message, conversation)

    def event_recorded(self, event: ChatEvent, conversation: Conversation) -> None:
        self._hub.event_recorded(event, conversation)
        self._tell("event_recorded", event, conversation)

    def group_created(self, conversation: Conversation) -> None:
        self._hub.group_created(conversation)
        self._tell("group_created", conversation)

    def _tell(self, name: str, *args: Any) -> None:
        # Watchers hear what they define: a missed-message tracker has no use for groups.
        hearing = self._heard.get(name)
        if hearing is None:
            hearing = self._heard[name] = [
                heard for heard in (getattr(w, name, None) for w in self._watchers)
                if heard is not None]
        for heard in hearing:
            try:
                heard(*args)
            except Exception:  # delivery is done; a watcher's failure is only logged
                watchers_log.exception("chat watcher failed", extra={"call": name})

    def __getattr__(self, name: str) -> Any:
        return getattr(self._hub, name)
