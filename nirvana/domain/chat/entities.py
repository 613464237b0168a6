"""Chat entities: conversations, members, messages, receipts, change events."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping


class ConversationKind(str, enum.Enum):
    DIRECT = "direct"
    GROUP = "group"


class Role(str, enum.Enum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class MessageKind(str, enum.Enum):
    TEXT = "text"
    IMAGE = "image"
    FILE = "file"
    AUDIO = "audio"
    VIDEO = "video"


@dataclass(frozen=True, slots=True)
class Attachment:
    url: str
    kind: MessageKind = MessageKind.FILE
    name: str | None = None
    size: int | None = None


@dataclass(slots=True)
class Member:
    user_id: int
    role: Role = Role.MEMBER
    read_seq: int = 0
    delivered_seq: int = 0


@dataclass(frozen=True, slots=True)
class MessageDraft:
    """A validated send, before the store gives it a seq and a stream position."""

    conversation_id: str
    sender_id: int
    client_id: str
    kind: MessageKind
    text: str
    attachments: tuple[Attachment, ...]
    reply_to: int | None
    # The members as the send was checked; the store makes the message's audience (who may
    # receive and resume it) the members at its position (docs/protocol.md, "Groups").
    audience: tuple[int, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    conversation_id: str
    seq: int  # per conversation: 1, 2, 3 ... no duplicates; gaps: docs/protocol.md
    pos: int  # stream position: grows across all conversations; what clients resume from
    sender_id: int
    client_id: str
    kind: MessageKind
    text: str
    attachments: tuple[Attachment, ...]
    reply_to: int | None
    created_at: datetime
    audience: tuple[int, ...] = ()
    edited_at: datetime | None = None
    deleted: bool = False
    # (emoji, user ids) in first-reaction order; see domain/chat/edits.py
    reactions: tuple[tuple[str, tuple[int, ...]], ...] = ()
    # Users who deleted this message for themselves; never shown to clients.
    hidden_for: tuple[int, ...] = ()

    def visible_to(self, user_id: int) -> bool:
        return user_id not in self.hidden_for


@dataclass(slots=True)
class Conversation:
    id: str
    kind: ConversationKind
    members: list[Member]
    created_by: int
    created_at: datetime
    last_activity: datetime
    name: str | None = None
    description: str | None = None
    avatar_url: str | None = None
    last_seq: int = 0
    last_message: Message | None = None

    def member(self, user_id: int) -> Member | None:
        for m in self.members:
            if m.user_id == user_id:
                return m
        return None

    @property
    def member_ids(self) -> tuple[int, ...]:
        return tuple(m.user_id for m in self.members)

    def unread_for(self, user_id: int) -> int:
        m = self.member(user_id)
        return max(0, self.last_seq - m.read_seq) if m else 0


class ReceiptKind(str, enum.Enum):
    DELIVERED = "delivered"
    READ = "read"


@dataclass(frozen=True, slots=True)
class Receipt:
    """A durable receipt event: `user_id` has received/read `conversation_id` up to `seq`."""

    pos: int
    conversation_id: str
    user_id: int
    kind: ReceiptKind
    seq: int
    audience: tuple[int, ...]


class EventType(str, enum.Enum):
    """Durable events other than new messages and receipts (see domain/chat/changes.py)."""

    MESSAGE_EDITED = "message.edited"
    MESSAGE_DELETED = "message.deleted"
    REACTION = "reaction"
    MEMBER_ADDED = "member.added"
    MEMBER_REMOVED = "member.removed"
    MEMBER_ROLE = "member.role"
    GROUP_UPDATED = "group.updated"


@dataclass(frozen=True, slots=True)
class ChatEvent:
    """A durable change event, kept for resume like messages and receipts."""

    pos: int
    type: EventType
    conversation_id: str
    actor_id: int
    audience: tuple[int, ...]
    created_at: datetime
    data: Mapping[str, Any]
    message: Message | None = None  # the message as it is after the change, if any


# What a client resuming from a position is replayed, in `pos` order.
StreamItem = Message | Receipt | ChatEvent


@dataclass(frozen=True, slots=True)
class StreamPage:
    # When `truncated`, only a cut of the positions as stored, for paging through the store:
    # not for a client (it is answered `resync_required`); change events may lack their
    # message and include what a complete page leaves out (storage/mongo/resume.py).
    items: list[StreamItem]
    # True when the replay cannot be complete (more than the window is missing, events
    # were pruned, or `since` is past the head): the client must refetch over HTTP.
    truncated: bool
    head: int  # the newest position stored
    # True when `since` is past the head: the client's position was never committed here
    # (the store lost writes, or was restored from a backup).
    ahead: bool = False


@dataclass(frozen=True, slots=True)
class Peer:
    """A user as chat shows them in its lists."""

    id: int
    name: str
    username: str
    avatar_url: str | None
    status: str


class PeerRelation(str, enum.Enum):
    FRIENDS = "friends"
    BLOCKED = "blocked"  # either way; wins over a friendship
    NONE = "none"
