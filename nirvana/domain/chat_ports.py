"""Chat entities and the ports the chat domain needs, as Protocols.

Adapters: `nirvana/storage/mongo_chat.py` (ChatStore), `nirvana/storage/pg_chat_peers.py`
(ChatPeers), `nirvana/ws/hub.py` (Publisher). Fakes for unit tests: `tests/fakes_chat.py`.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping, Protocol, Sequence


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
    audience: tuple[int, ...]  # the members when it was sent: who may receive and resume it
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    conversation_id: str
    seq: int  # per conversation: 1, 2, 3 ... no gaps, no duplicates
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
    # (emoji, user ids) in first-reaction order; see domain/chat_edits.py
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
    """Durable events other than new messages and receipts (see domain/chat_changes.py)."""

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
    items: list[StreamItem]
    # True when more than the window is missing: the client must refetch over HTTP.
    truncated: bool
    head: int  # the newest position the store has allocated


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


class ChatPeers(Protocol):
    """What chat needs to know of the social graph (PostgreSQL)."""

    async def relation(self, a: int, b: int) -> PeerRelation:
        """Friends, blocked or neither, in one round trip: checked on every direct send."""
        ...

    async def are_friends(self, a: int, b: int) -> bool: ...

    async def is_blocked_either_way(self, a: int, b: int) -> bool: ...

    async def friend_ids(self, user_id: int) -> set[int]: ...

    async def blocked_with(self, user_id: int, others: Sequence[int]) -> set[int]:
        """Those of `others` that `user_id` blocked or is blocked by."""
        ...

    async def any_block_among(self, user_ids: Sequence[int]) -> bool:
        """Whether any of these users blocked another of them."""
        ...

    async def friends(self, user_id: int) -> list[Peer]:
        """The user's friends that no block separates, by name."""
        ...


class ChatStore(Protocol):
    async def get_conversation(self, conversation_id: str) -> Conversation | None: ...

    async def create_conversation(self, conversation: Conversation, direct_key: str | None
                                  ) -> Conversation:
        """Store a new conversation. For a direct one `direct_key` names the pair; when the
        pair already has one, that one is returned instead (one per pair, also under races)."""
        ...

    async def find_direct(self, direct_key: str) -> Conversation | None: ...

    async def conversations_of(self, user_id: int, limit: int) -> list[Conversation]:
        """The user's conversations, most recent activity first."""
        ...

    def submit(self, draft: MessageDraft,
               landed_late: Callable[[Message], None] | None = None
               ) -> asyncio.Future[tuple[Message, bool]]:
        """`append` in two steps: queue the write now (writes are stored in the order they
        are submitted), and return a future of its result, resolved in that order (so its
        callbacks run in that order). If the future fails first (store_timeout) or was
        cancelled, and the write is stored afterwards, `landed_late(message)` is called
        then, so the message is still delivered."""
        ...

    async def append(self, draft: MessageDraft) -> tuple[Message, bool]:
        """Store a message durably and return it with True; or, when the sender already sent
        `client_id`, return the stored one with False. Storing also moves the conversation's
        last seq and last message, and raises the sender's read and delivered marks to it. Returns only after the store has
        acknowledged the write; raises on failure (the message is then not stored)."""
        ...

    async def messages(self, conversation_id: str, *, before: int | None, after: int | None,
                       limit: int) -> list[Message]:
        """Messages by seq, ascending; `after` pages forward, else the newest before `before`."""
        ...

    async def record_receipt(self, conversation_id: str, user_id: int, kind: ReceiptKind,
                             seq: int, audience: tuple[int, ...]) -> Receipt | None:
        """Raise the member's watermark to `seq`; None (nothing stored) when it was not lower."""
        ...

    async def head(self) -> int:
        """The newest stream position allocated so far (0 when empty)."""
        ...

    async def stream_since(self, user_id: int, since: int, limit: int) -> StreamPage:
        """Durable events for `user_id` with pos > since, ascending, at most `limit`."""
        ...


class Publisher(Protocol):
    """Live delivery to connected devices. Called after the durable write; never blocks:
    it only queues, so the caller's order is the order every connection receives."""

    def message_posted(self, message: Message, conversation: Conversation) -> None: ...

    def receipt_recorded(self, receipt: Receipt) -> None: ...

    def conversation_changed(self, conversation: Conversation, user_ids: Sequence[int]
                             ) -> None: ...

    def typing(self, conversation_id: str, user_id: int, active: bool,
               audience: Sequence[int]) -> None: ...

    def event_recorded(self, event: ChatEvent, conversation: Conversation) -> None:
        """A durable change: to `event.audience` with its pos, then the conversation's
        current members get `conversation.updated`."""
        ...


@dataclass(frozen=True, slots=True)
class ChatLimits:
    max_text: int = 4000  # characters
    max_attachments: int = 10
    max_url: int = 2048
    max_group_members: int = 256
    max_page: int = 100
    max_conversations: int = 200
    # Resume: at most this many events are replayed, and non-message events are kept this
    # long (older ones are pruned); beyond either, `resync_required`.
    resume_window: int = 5000
    resume_window_seconds: float = 7 * 24 * 3600.0
    # Resume reads of the store at once; more wait their turn here. After a restart every
    # client resumes together, and unbounded, their reads queued in the store's connection
    # pool until some passed its timeout and were answered `unavailable` (retry in 5 s).
    resume_reads: int = 16
    max_reactions: int = 20  # distinct emoji per message
    typing_ttl_seconds: float = 6.0
