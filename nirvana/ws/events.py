"""Server events: every frame the server sends, and `encode` (an event → its text frame).

Events with a `pos` are durable: kept, replayed by `resume`, delivered in `pos` order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Union

from pydantic import Field

from .frames import (
    PROTOCOL_VERSION,
    Absent,
    ChatTime,
    ConversationOut,
    LimitsOut,
    MessageOut,
    Out,
    PresenceOut,
    ProfileOut,
    ResumeWindowOut,
    RoleChange,
    UserIds,
)
from .notification_frames import UNREAD_DESCRIPTION, NotificationOut


class Hello(Out):
    type: Literal["hello"] = "hello"
    version: int = PROTOCOL_VERSION
    user_id: int
    limits: LimitsOut
    heartbeat_seconds: float
    resume_window: ResumeWindowOut
    head: int = Field(description="The newest stream position when this socket opened")


class Ack(Out):
    type: Literal["ack"] = "ack"
    id: str
    message: MessageOut | None = Absent()
    duplicate: bool | None = Absent()
    conversation: ConversationOut | None = Absent()
    conversations: list[ConversationOut] | None = Absent()
    next_cursor: str | None = Absent("With `conversations` when more follow: send it as "
                                     "`cursor` for the next page")
    messages: list[MessageOut] | None = Absent()
    head: int | None = Absent()
    presence: list[PresenceOut] | None = Absent()


class Error(Out):
    type: Literal["error"] = "error"
    id: str | None = Field(description="The request this answers; null if unreadable or not a string")
    code: str
    message: str
    details: Any = Absent()
    retry_after: float | None = Absent(
        "Seconds to wait before sending the same command again: for rate_limited, each "
        "refusal one token after the last (0.05 at 20/s), at most 10 (the abuse window); "
        "rate refusals beyond a grace of 200 that refills at commands_per_second count "
        "towards the 1008 close. 1 or 5 for unavailable and store_timeout")


class NewMessage(Out):
    type: Literal["newMessage"] = "newMessage"
    pos: int
    message: MessageOut


class ReceiptEvent(Out):
    type: Literal["receipt"] = "receipt"
    pos: int
    conversation_id: str
    user_id: int
    kind: Literal["delivered", "read"]
    seq: int


class ConversationUpdated(Out):
    type: Literal["conversation.updated"] = "conversation.updated"
    conversation: ConversationOut


class TypingEvent(Out):
    type: Literal["typing"] = "typing"
    conversation_id: str
    user_id: int
    active: bool
    expires_in: float


class OnlineUsers(Out):
    type: Literal["getOnlineUsers"] = "getOnlineUsers"
    user_ids: list[int] = Field(description="Your friends who are online now")


class Resumed(Out):
    type: Literal["resumed"] = "resumed"
    id: str | None  # null when the resume was asked with ?since= on the URL
    head: int


class ResyncRequired(Out):
    type: Literal["resync_required"] = "resync_required"
    id: str | None  # null when the resume was asked with ?since= on the URL
    head: int
    reason: str


class Pong(Out):
    type: Literal["pong"] = "pong"
    id: str


class _Durable(Out):
    pos: int
    conversation_id: str
    actor_id: int = Field(description="Who made the change")


# A change event's message, live or replayed (docs/protocol.md, "Server events").
NOW = ("The whole message as it is when this frame is sent: live, as the change left it; "
       "replayed by a resume, as it is at the replay, later changes included")


class MessageEdited(_Durable):
    type: Literal["message.edited"] = "message.edited"
    message: MessageOut = Field(description=NOW)


class MessageDeleted(_Durable):
    type: Literal["message.deleted"] = "message.deleted"
    seq: int
    scope: Literal["me", "everyone"]
    message: MessageOut | None = Absent(f"Only with scope everyone (the tombstone). {NOW}")


class ReactionEvent(_Durable):
    type: Literal["reaction"] = "reaction"
    seq: int
    emoji: str
    user_id: int
    added: bool
    message: MessageOut = Field(description=NOW)


class MemberAdded(_Durable):
    type: Literal["member.added"] = "member.added"
    user_ids: UserIds


class MemberRemoved(_Durable):
    type: Literal["member.removed"] = "member.removed"
    user_ids: UserIds
    left: bool = Field(description="true when the member left by themselves")


class MemberRole(_Durable):
    type: Literal["member.role"] = "member.role"
    changes: list[RoleChange]


class GroupUpdated(_Durable):
    type: Literal["group.updated"] = "group.updated"
    changes: dict[str, str | None] = Field(description="the changed fields among name, "
                                                        "description, avatar_url")


class PresenceEvent(Out):
    type: Literal["presence"] = "presence"
    user_id: int
    state: Literal["online", "away", "busy", "offline"]
    last_seen: ChatTime | None


class ProfileUpdated(Out):
    type: Literal["profile.updated"] = "profile.updated"
    user: ProfileOut


class NotificationEvent(Out):
    """A notification added, or grown (another like), for the socket's user."""

    type: Literal["notification"] = "notification"
    notification: NotificationOut
    unread: int = Field(description=f"After it. {UNREAD_DESCRIPTION}")


class NotificationsUnread(Out):
    """The unread count: when the socket opens, and after every change that is not a new
    notification (read, deleted, withdrawn). A client whose list differs refetches it."""

    type: Literal["notifications.unread"] = "notifications.unread"
    unread: int = Field(description=UNREAD_DESCRIPTION)


class NewPostAuthorOut(Out):
    id: int
    username: str
    name: str
    avatar: str | None


class NewPostOut(Out):
    id: int
    slug: str
    title: str
    summary: str
    audience: Literal["public", "followers", "friends"]
    author: NewPostAuthorOut
    published_at: datetime
    link: str = Field(description="The blog's page, relative to the site")


class BlogPublishedEvent(Out):
    """A blog by someone you follow (or a friend) was just published and you may read it.
    Live only: no `pos`, no replay; the feed (`GET /api/v1/feed?following=true`) holds it."""

    type: Literal["blog.published"] = "blog.published"
    blog: NewPostOut


ServerEvent = Union[Hello, Ack, Error, NewMessage, ReceiptEvent, ConversationUpdated,
                    TypingEvent, OnlineUsers, Resumed, ResyncRequired, Pong,
                    MessageEdited, MessageDeleted, ReactionEvent, MemberAdded,
                    MemberRemoved, MemberRole, GroupUpdated, PresenceEvent,
                    ProfileUpdated, NotificationEvent, NotificationsUnread,
                    BlogPublishedEvent]


def encode(event: ServerEvent) -> str:
    """Required fields always, `null` included (the schema's contract); optional fields only
    when set (`Absent`)."""
    return event.model_dump_json()
