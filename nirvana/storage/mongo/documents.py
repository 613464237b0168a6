"""The chat store's Beanie documents: every stored field and every index, declared.

The declared indexes are the schema (`wiring.stores.init_documents` drops undeclared ones). The
send, receipt and resume paths use the documents' pymongo collections (`collections.py`) with
the plain dicts of `codec.py`: they run thousands of times a second, and building and
validating a model per message would be work on the event loop for nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import Document
from pymongo import ASCENDING, DESCENDING, IndexModel


# One group per creator and Idempotency-Key. Unique and sparse, on one field that holds the
# creator and the key: only keyed groups get an entry, and the field is left out, never
# null, on the others (a null would be an entry, and the second a duplicate). Not a partial
# (created_by, key) index: the embedded store enforces a partial index's uniqueness but
# never reads it, so each replay's lookup would scan every conversation (docs/performance.md,
# "A group's Idempotency-Key"). A start on an older database builds it itself, saying so
# (upgrade.py `build_declared_index`).
KEY_INDEX = IndexModel([("idempotency_key", ASCENDING)], unique=True, sparse=True)


class ConversationDoc(Document):
    """Who is in a conversation and what it is called: written when that changes, rarely.
    What changes with every message lives in `ConversationStateDoc`."""

    id: str  # type: ignore[assignment]
    kind: str
    direct_key: str
    member_ids: list[int]
    members: list[dict[str, Any]]  # {user_id, role}
    created_by: int
    created_at: datetime
    name: str | None = None
    description: str | None = None
    avatar_url: str | None = None
    # A group created with an Idempotency-Key: "<created_by>:<key>" (codec.py
    # `creation_key`) and the fingerprint of the request; absent, never null, without a key
    # (KEY_INDEX): `keep_nulls` below makes a save through this model leave a None out.
    idempotency_key: str | None = None
    idempotency_fingerprint: str | None = None

    class Settings:
        name = "chat_conversations"
        keep_nulls = False  # readers take a missing name, description... as None (codec.py)
        indexes = [
            IndexModel([("direct_key", ASCENDING)], unique=True),
            IndexModel([("member_ids", ASCENDING)]),
            KEY_INDEX,
        ]


class ConversationStateDoc(Document):
    """What every message and receipt changes: the last message and seq, and each member's
    read and delivered marks (`marks`: str(user_id) -> {"read": seq, "delivered": seq}).

    Apart from `ConversationDoc` because an update on the embedded store rewrites every
    index entry of the document, whatever it changes: here that is only `_id`, there the
    multikey `member_ids` holds an entry per member (figures in docs/performance.md)."""

    id: str  # type: ignore[assignment]
    last_seq: int = 0
    last_message: dict[str, Any] | None = None
    last_activity: datetime
    marks: dict[str, dict[str, int]] = {}
    # The highest position of a message moved to the head with an older seq than the last
    # message's (by an older release's writer; this one moves none, sends.py); resume finds
    # a conversation by its newest position (resume.py). Absent until a conversation gets
    # one.
    last_pos: int = 0

    class Settings:
        name = "chat_conversation_state"


class MessageDoc(Document):
    id: str  # type: ignore[assignment]
    conversation_id: str
    seq: int
    pos: int
    sender_id: int
    client_id: str
    kind: str
    text: str
    attachments: list[dict[str, Any]]  # {url, kind, name, size}
    reply_to: int | None
    created_at: datetime
    audience: list[int]
    edited_at: datetime | None = None
    deleted: bool = False
    # Normalised words of the text, for search without a text index (domain/chat/search.py).
    # Not indexed: see the index list below.
    terms: list[str] = []
    hidden_for: list[int] = []  # users who deleted it for themselves
    reactions: list[dict[str, Any]] = []  # flat {emoji, user_id} pairs, in reaction order
    # The chat-writer lease epoch of the instance that wrote it (several instances; absent
    # from one process's): what the store's fence checks (fence.py). Not indexed.
    epoch: int | None = None
    # Moved to the head after landing late with its seq, by an older release's writer (this
    # one asks again instead, sends.py): a restart's summary repair keeps its position for
    # resume. Absent from the others.
    moved: bool = False

    class Settings:
        name = "chat_messages"
        indexes = [
            # Unique: a second writer (or a write that landed after its timeout) can never
            # reuse a seq. Idempotency needs no index of its own: see `codec.message_id`.
            IndexModel([("conversation_id", ASCENDING), ("seq", ASCENDING)], unique=True),
            # The stream: the head at start, the messages past the summary checkpoint, and
            # resume's positions an older release wrote. No (conversation_id, pos): resume
            # reads a conversation past a position by seq, through the index above
            # (conversation_since.py), and that index cost every send's commit
            # (docs/performance.md, "Resume by seq"); nor (audience, pos): a multikey index
            # takes one entry per member of every message. No other read of messages by
            # position names a conversation: history pages go by seq (history.py), search
            # sorts the user's conversations' messages by position (changes.py; MongoDB
            # walks this index newest first, the embedded store scans either way).
            IndexModel([("pos", DESCENDING)]),
            # No index on `terms`: one entry per distinct word made it the costliest part of
            # storing a message, and the embedded store never used it for a search's `$all`
            # (it scans). Figures: docs/performance.md ("Message indexes").
        ]


# A delete for everyone empties its message's copies (changes.py). Sparse: only events
# that carry a message get an entry, not receipts (most events, and a hot path). Not
# partial: the embedded store keeps a partial index but never reads it (docs/performance.md,
# "A delete for everyone's event copies"). A start on an older database builds it itself,
# saying so (upgrade.py `build_copies_index`).
COPIES_INDEX = IndexModel([("message._id", ASCENDING)], sparse=True)


class EventDoc(Document):
    """Durable non-message events, kept for resume: receipts (`type` "receipt", with
    `kind` and `seq`), the receipts of one conversation committed together (`type`
    "receipts", with `first` and `receipts`: codec.py `receipts_doc`) and change events
    (`type` an EventType, with `data` and the changed `message`)."""

    pos: int  # a bundle's highest
    conversation_id: str
    type: str
    # Who: the reader of a receipt, the actor of a change; a bundle's readers are in
    # `receipts`.
    user_id: int | None = None
    audience: list[int]
    created_at: datetime
    kind: str | None = None
    seq: int | None = None
    first: int | None = None  # a bundle's lowest position
    receipts: list[dict[str, Any]] | None = None  # a bundle's: {pos, user_id, kind, seq}
    data: dict[str, Any] | None = None
    message: dict[str, Any] | None = None
    epoch: int | None = None  # as MessageDoc's

    class Settings:
        name = "chat_events"
        indexes = [
            IndexModel([("audience", ASCENDING), ("pos", ASCENDING)]),
            IndexModel([("pos", DESCENDING)]),
            IndexModel([("created_at", ASCENDING)]),  # pruning past the resume window
            COPIES_INDEX,  # declared, so a start never drops it as retired
        ]


class ChatMetaDoc(Document):
    """Small facts about the chat store: the summary checkpoint (`summaries.CHECKPOINT_ID`),
    the resume floor (`resume.FLOOR_ID`), whether conversation states were split out of
    older databases' conversations (`upgrade.STATES_SPLIT_ID`, with `at`), the position
    past which resume reads a conversation by seq (`upgrade.SEQ_ORDER_ID`), the count of
    messages at which a start kept the retired indexes (`upgrade.RETIRED_KEPT_ID`), and
    the epoch the writer fence stands at, for its transactions (`fence.TOKEN`, with
    `epoch`)."""

    id: str  # type: ignore[assignment]
    pos: int = 0
    at: datetime | None = None

    class Settings:
        name = "chat_meta"


DOCUMENTS = [ConversationDoc, ConversationStateDoc, MessageDoc, EventDoc, ChatMetaDoc]
