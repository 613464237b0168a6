"""A notification as both edges show it: in the HTTP list and in the WebSocket
`notification` event, so a client reads one shape."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from ..domain.notifications.entities import UNREAD_COUNTED, Kind, Notification
from ..domain.notifications.policy import link, summary
from .frames import Out


# What every unread count in the API and the frames means (docs/protocol.md, Notifications).
UNREAD_DESCRIPTION = (
    f"How many of your notifications are unread, counted up to {UNREAD_COUNTED:,}: "
    f"{UNREAD_COUNTED:,} means {UNREAD_COUNTED:,} or more (show it as "
    f"\"{UNREAD_COUNTED - 1}+\")")


class NotificationActorOut(Out):
    id: int
    username: str
    name: str


class NotificationOut(Out):
    id: int
    kind: Kind
    text: str = Field(description="One line to show, e.g. 'Ann and 3 others liked “Trip”'")
    actors: list[NotificationActorOut] = Field(
        description="Who did it, the most recent first (at most 3)")
    actor_count: int = Field(description="How many did it in all (likes coalesce)")
    # Required, null when not about a blog or comment: one shape on both edges (a frame
    # sends every required field, null included).
    blog_id: int | None
    blog_title: str | None
    comment_id: int | None
    conversation_id: str | None = Field(description="A mention in a group chat: the "
                                                    "conversation; null otherwise")
    link: str = Field(description="The page it is about, relative to the site")
    created_at: datetime
    updated_at: datetime = Field(description="The latest activity; the list's order")
    read: bool

    @classmethod
    def of(cls, n: Notification) -> "NotificationOut":
        return cls(id=n.id, kind=n.kind, text=summary(n),
                   actors=[NotificationActorOut(id=a.id, username=a.username, name=a.name)
                           for a in n.actors],
                   actor_count=n.actor_count, blog_id=n.blog_id, blog_title=n.blog_title,
                   comment_id=n.comment_id, conversation_id=n.conversation_id,
                   link=link(n), created_at=n.created_at, updated_at=n.updated_at,
                   read=n.read)

