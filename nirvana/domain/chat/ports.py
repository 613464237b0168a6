"""The ports the chat domain needs, as Protocols.

Adapters: `nirvana/storage/mongo/chat_store.py` (ChatStore),
`nirvana/storage/postgres/chat_peers.py` (ChatPeers), `nirvana/ws/hub.py` (Publisher). Fakes
for unit tests: `tests/fakes_chat.py`.
"""

from __future__ import annotations

from typing import Awaitable, Callable, NewType, Protocol, Sequence

from ..idempotency import IdempotencyKey
from .entities import (
    ChatEvent,
    Conversation,
    Message,
    MessageDraft,
    Peer,
    PeerRelation,
    Receipt,
    ReceiptKind,
    StreamPage,
)
from .listing import ConversationPage, Position

# The store's token, taken before a send's checks and handed back with it
# (`ChatStore.admission`): the domain only passes it on.
Admission = NewType("Admission", int)


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

    async def get_conversations(self, conversation_ids: Sequence[str]) -> list[Conversation]:
        """Those of `conversation_ids` that exist, in one read of the store (any order)."""
        ...

    async def create_conversation(self, conversation: Conversation, direct_key: str | None,
                                  key: IdempotencyKey | None = None) -> Conversation:
        """Store a new conversation. For a direct one `direct_key` names the pair; when the
        pair already has one, that one is returned instead (one per pair, also under races).
        A group's `key` is its creator's Idempotency-Key, stored with it in the same insert:
        when the creator's key is taken, the conversation stored under it is returned instead
        (IdempotencyKeyReusedError when stored for another request)."""
        ...

    async def keyed_conversation(self, created_by: int, key: IdempotencyKey
                                 ) -> Conversation | None:
        """The group `created_by` created with `key`, if any; IdempotencyKeyReusedError when
        it was created by another request (another fingerprint)."""
        ...

    async def find_direct(self, direct_key: str) -> Conversation | None: ...

    async def conversations_of(self, user_id: int, limit: int, after: Position | None = None
                               ) -> ConversationPage:
        """A page of the user's conversations: at most `limit` of those older than `after`
        (all, without it), most recent activity first, ties by id (listing.py); activity
        counts the messages stored but not summarised yet."""
        ...

    async def member_conversation(self, user_id: int, conversation_id: str
                                  ) -> Conversation | None:
        """The conversation if `user_id` is a member, as `conversations_of` would list it
        (the same summaries counted); None when not a member or there is none."""
        ...

    def admission(self) -> Admission:
        """Taken before the checks that admit a send (its sender's account exists, is a
        member) and passed to `append`, which refuses the send (UnavailableError) when what
        those checks read may no longer hold for the store (several instances: another
        process was the writer meanwhile, and may have deleted the account). No I/O."""
        ...

    def append(self, draft: MessageDraft, *, admitted: Admission,
               on_stored: Callable[[Message], None] | None = None
               ) -> Awaitable[tuple[Message, bool]]:
        """Queue a message's durable write now (writes are stored in the order of these
        calls) and return an awaitable of its result: the stored message and True; or, when
        the sender already sent `client_id`, the stored one and False. `admitted`: the
        `admission()` taken before the send's checks. Storing also moves
        the conversation's last seq and last message, and raises the sender's read and
        delivered marks to it. Raises UnavailableError when the store failed or did not
        answer in time (`store_timeout`). `on_stored(message)` is called once when the
        message is new and stored, as soon as it is (before the awaitable resolves), also
        when the caller stopped waiting or was answered `store_timeout`: the caller
        delivers it there. If `on_stored` raises, the store logs it and goes on: the
        message stays stored and its sender is still answered."""
        ...

    async def messages(self, conversation_id: str, *, before: int | None, after: int | None,
                       limit: int) -> list[Message]:
        """Messages by seq, ascending; `after` pages forward, else the newest before `before`."""
        ...

    async def sent(self, sender_id: int, client_id: str) -> Message | None:
        """The message `sender_id` stored under `client_id`, if one is stored."""
        ...

    async def record_receipt(self, conversation_id: str, user_id: int, kind: ReceiptKind,
                             seq: int, audience: tuple[int, ...], *,
                             on_recorded: Callable[[Receipt | None], None] | None = None
                             ) -> Receipt | None:
        """Raise the member's watermark to `seq`; None (nothing stored) when it was not lower.
        Raises UnavailableError (`store_timeout`) when the store did not answer in time;
        the mark may still be raised later. `on_recorded` is called once with what this
        returns, as soon as the store has it, also when the caller stopped waiting (or
        with None when the mark failed after that), as a change's `on_applied`
        (changes.py): the caller announces the receipt there."""
        ...

    async def head(self) -> int:
        """The newest stream position allocated so far (0 when empty)."""
        ...

    async def stream_since(self, user_id: int, since: int, limit: int) -> StreamPage:
        """Durable events for `user_id` with pos > since, ascending, at most `limit`. A
        `truncated` page's items are not for a client: see `StreamPage.items`."""
        ...


class Publisher(Protocol):
    """Live delivery to connected devices. Called after the durable write; never blocks:
    it only queues, so the caller's order is the order every connection receives."""

    def message_posted(self, message: Message, conversation: Conversation) -> None: ...

    def receipt_recorded(self, receipt: Receipt) -> None: ...

    def conversation_changed(self, conversation: Conversation, user_ids: Sequence[int]
                             ) -> None: ...

    def group_created(self, conversation: Conversation) -> None:
        """A new group: its members get it (as `conversation.updated`); who tracks groups
        hears who was added to it."""
        ...

    def typing(self, conversation_id: str, user_id: int, active: bool,
               audience: Sequence[int]) -> None: ...

    def event_recorded(self, event: ChatEvent, conversation: Conversation) -> None:
        """A durable change: to `event.audience` with its pos, then the conversation's
        current members get `conversation.updated`."""
        ...
