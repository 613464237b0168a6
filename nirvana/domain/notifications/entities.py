"""Notifications: what a user is told, about what, by whom, and whether they have read it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Kind(StrEnum):
    FRIEND_REQUEST = "friend_request"
    FRIEND_ACCEPTED = "friend_accepted"
    NEW_FOLLOWER = "new_follower"
    BLOG_LIKED = "blog_liked"
    BLOG_COMMENTED = "blog_commented"
    MENTIONED = "mentioned"
    NEW_BLOG = "new_blog"
    # Group chats: `text` names the group; for a role, "admin of Trip" / "owner of Trip".
    ADDED_TO_GROUP = "added_to_group"
    GROUP_ROLE = "group_role"
    # Told by the system, with no actor (e.g. "your export is ready").
    NOTICE = "notice"
    # A moderator closed a case the recipient reported (domain/moderation); `text` says how.
    REPORT_HANDLED = "report_handled"


# The text of a BLOG_LIKED notification gathering reactions of several kinds.
MIXED_REACTIONS = "mixed"


@dataclass(frozen=True, slots=True)
class Draft:
    """What a rule decided to tell one recipient.

    `subject` names what the notification is about ("blog:12", "comment:5", "user:7"): an
    undo withdraws by it. Notifications with the same `group_key` that are still unread are
    one notification with several actors (likes: "Ann and 3 others liked …")."""

    recipient_id: int
    kind: Kind
    actor_id: int | None
    subject: str
    group_key: str
    blog_id: int | None = None
    comment_id: int | None = None
    # NOTICE and REPORT_HANDLED: what to say; BLOG_LIKED: the reaction's kind ('mixed'
    # when several coalesce); a chat mention: the group's name
    text: str | None = None
    conversation_id: str | None = None  # a mention in a group chat


@dataclass(frozen=True, slots=True)
class Actor:
    id: int
    username: str
    name: str


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    recipient_id: int
    kind: Kind
    actors: tuple[Actor, ...]  # the most recent first, at most MAX_SHOWN_ACTORS
    actor_count: int
    blog_id: int | None
    blog_title: str | None
    comment_id: int | None
    text: str | None
    created_at: datetime
    updated_at: datetime  # the latest activity: a new actor of a coalesced one moves it
    read_at: datetime | None
    conversation_id: str | None = None

    @property
    def read(self) -> bool:
        return self.read_at is not None


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ended: the (updated_at, id) of its last notification."""

    updated_at: datetime
    id: int


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Notification]
    next: Position | None


@dataclass(frozen=True, slots=True)
class Change:
    """What one recipient's list became after a write: the notification added or grown
    (None when one was withdrawn or marked read) and the unread count after it."""

    recipient_id: int
    notification: Notification | None
    unread: int


MAX_SHOWN_ACTORS = 3

# The unread count stops at this many shown rows, and this value means "this many or more"
# (docs/protocol.md, Notifications): the reading rule is checked per row, and the count is
# taken on every notification delivered, so an account that never reads must not pay for
# all it holds. Clients show UNREAD_COUNTED - 1 followed by "+" for it.
UNREAD_COUNTED = 1000
