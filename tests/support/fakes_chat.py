"""In-memory fakes of the chat ports, for domain unit tests. Same Protocols as production."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from typing import Awaitable

from nirvana.domain.chat.entities import (
    Conversation,
    Message,
    MessageDraft,
    Peer,
    PeerRelation,
    Receipt,
    ReceiptKind,
    StreamPage,
)
from nirvana.domain.chat.listing import ConversationPage, Position, select
from nirvana.domain.chat.ports import Admission
from nirvana.domain.errors import UnavailableError
from nirvana.domain.idempotency import IdempotencyKey, replayed_or_refused
from nirvana.storage.mongo.work_items import handed_on


class FakePeers:
    def __init__(self) -> None:
        self.friendships: set[tuple[int, int]] = set()
        self.blocks: set[tuple[int, int]] = set()

    def befriend(self, a: int, b: int) -> None:
        self.friendships |= {(a, b), (b, a)}

    async def relation(self, a: int, b: int) -> PeerRelation:
        if await self.is_blocked_either_way(a, b):
            return PeerRelation.BLOCKED
        return PeerRelation.FRIENDS if await self.are_friends(a, b) else PeerRelation.NONE

    async def are_friends(self, a: int, b: int) -> bool:
        return (a, b) in self.friendships

    async def is_blocked_either_way(self, a: int, b: int) -> bool:
        return (a, b) in self.blocks or (b, a) in self.blocks

    async def friend_ids(self, user_id: int) -> set[int]:
        return {b for a, b in self.friendships if a == user_id}

    async def blocked_with(self, user_id: int, others) -> set[int]:
        return {o for o in others if (user_id, o) in self.blocks or (o, user_id) in self.blocks}

    async def any_block_among(self, user_ids) -> bool:
        ids = set(user_ids)
        return any(a in ids and b in ids for a, b in self.blocks)

    async def friends(self, user_id: int) -> list[Peer]:
        return [Peer(f, f"U{f}", f"u{f}", None, "") for f in sorted(await self.friend_ids(user_id))]


class FakeChatStore:
    def __init__(self) -> None:
        self.conversations: dict[str, Conversation] = {}
        self.direct: dict[str, str] = {}
        self.keyed: dict[tuple[int, str], tuple[str, str]] = {}  # (creator, key): (id, fingerprint)
        self.stored_messages: list[Message] = []
        self.receipts: list[Receipt] = []
        self._head = 0
        # One writer, never another, unless a test moves it (another writer led meanwhile).
        self.tenure = Admission(0)

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        c = self.conversations.get(conversation_id)
        return replace(c, members=[replace(m) for m in c.members]) if c else None

    async def get_conversations(self, conversation_ids) -> list[Conversation]:
        return [c for i in dict.fromkeys(conversation_ids)
                if (c := await self.get_conversation(i)) is not None]

    async def create_conversation(self, c: Conversation, direct_key: str | None,
                                  key: IdempotencyKey | None = None) -> Conversation:
        if key is not None:
            if (found := await self.keyed_conversation(c.created_by, key)) is not None:
                return found
            self.keyed[(c.created_by, key.key)] = (c.id, key.fingerprint)
        if direct_key is not None:
            if direct_key in self.direct:
                return self.conversations[self.direct[direct_key]]
            self.direct[direct_key] = c.id
        self.conversations[c.id] = c
        return c

    async def keyed_conversation(self, created_by: int, key: IdempotencyKey
                                 ) -> Conversation | None:
        cid, fingerprint = self.keyed.get((created_by, key.key), (None, None))
        if cid is None:
            return None
        replayed_or_refused(key, fingerprint)
        return await self.get_conversation(cid)

    async def find_direct(self, direct_key: str) -> Conversation | None:
        cid = self.direct.get(direct_key)
        return self.conversations[cid] if cid else None

    async def conversations_of(self, user_id: int, limit: int, after: Position | None = None
                               ) -> ConversationPage:
        mine = {c.id: c for c in self.conversations.values() if c.member(user_id)}
        chosen, following = select({c.id: c.last_activity for c in mine.values()}, after, limit)
        return ConversationPage([mine[cid] for cid in chosen], following)

    async def member_conversation(self, user_id: int, conversation_id: str
                                  ) -> Conversation | None:
        c = self.conversations.get(conversation_id)
        return c if c is not None and c.member(user_id) is not None else None

    def admission(self) -> Admission:
        return self.tenure

    def append(self, d: MessageDraft, *, admitted: Admission,
               on_stored=None) -> Awaitable[tuple[Message, bool]]:
        if admitted != self.tenure:  # as the real writer's `enqueue`
            refused = asyncio.get_running_loop().create_future()
            refused.set_exception(UnavailableError("The chat writer changed; retry."))
            return refused
        # A task starts in creation order, so appends are stored in call order.
        return asyncio.ensure_future(self._write(d, on_stored))

    async def _write(self, d: MessageDraft, on_stored=None) -> tuple[Message, bool]:
        await asyncio.sleep(0)  # let concurrent senders interleave
        for m in self.stored_messages:
            if (m.sender_id, m.client_id) == (d.sender_id, d.client_id):
                return m, False
        c = self.conversations[d.conversation_id]
        c.last_seq += 1
        self._head += 1
        m = Message(uuid.uuid4().hex, d.conversation_id, c.last_seq, self._head, d.sender_id,
                    d.client_id, d.kind, d.text, d.attachments, d.reply_to, d.created_at,
                    d.audience)
        self.stored_messages.append(m)
        c.last_message = m
        sender = c.member(d.sender_id)
        sender.read_seq = sender.delivered_seq = m.seq
        handed_on(on_stored, m)  # as the real store: a failure logged, the sender answered
        return m, True

    async def messages(self, conversation_id, *, before, after, limit) -> list[Message]:
        ms = [m for m in self.stored_messages if m.conversation_id == conversation_id]
        if after is not None:
            return [m for m in ms if m.seq > after][:limit]
        if before is not None:
            ms = [m for m in ms if m.seq < before]
        return ms[-limit:]

    async def sent(self, sender_id: int, client_id: str) -> Message | None:
        return next((m for m in self.stored_messages
                     if (m.sender_id, m.client_id) == (sender_id, client_id)), None)

    async def record_receipt(self, conversation_id, user_id, kind, seq, audience, *,
                             on_recorded=None):
        member = self.conversations[conversation_id].member(user_id)
        attr = "read_seq" if kind is ReceiptKind.READ else "delivered_seq"
        if getattr(member, attr) >= seq:
            r = None
        else:
            setattr(member, attr, seq)
            self._head += 1
            r = Receipt(self._head, conversation_id, user_id, kind, seq, tuple(audience))
            self.receipts.append(r)
        # As the store: handed on before the caller is answered; a failure there logged.
        handed_on(on_recorded, r)
        return r

    async def head(self) -> int:
        return self._head

    async def stream_since(self, user_id: int, since: int, limit: int) -> StreamPage:
        items = sorted([i for i in [*self.stored_messages, *self.receipts]
                        if user_id in i.audience and i.pos > since], key=lambda i: i.pos)
        return StreamPage(items[:limit], len(items) > limit, self._head)


class RecordingPublisher:
    """Records what the domain published, and can be made to fail."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def message_posted(self, message, conversation) -> None:
        self.events.append(("message", message.conversation_id, message.seq))

    def receipt_recorded(self, receipt) -> None:
        self.events.append(("receipt", receipt.user_id, receipt.seq))

    def conversation_changed(self, conversation, user_ids) -> None:
        self.events.append(("conversation", conversation.id, tuple(user_ids)))

    def group_created(self, conversation) -> None:
        self.conversation_changed(conversation, conversation.member_ids)

    def typing(self, conversation_id, user_id, active, audience) -> None:
        self.events.append(("typing", user_id, active, tuple(audience)))

    def event_recorded(self, event, conversation) -> None:
        self.events.append((event.type.value, event.pos, tuple(event.audience)))


class PositionsPublisher(RecordingPublisher):
    """Also records, in the order published: the position of each message, event and
    receipt (`positions`); each receipt's audience (`audiences`); and each conversation
    announced, as (its last message's text, the read marks of its members) (`updates`)."""

    def __init__(self) -> None:
        super().__init__()
        self.positions: list[int] = []
        self.audiences: list[tuple[int, ...]] = []
        self.updates: list[tuple[str | None, dict[int, int]]] = []

    def message_posted(self, message, conversation) -> None:
        self.positions.append(message.pos)
        super().message_posted(message, conversation)

    def event_recorded(self, event, conversation) -> None:
        self.positions.append(event.pos)
        super().event_recorded(event, conversation)

    def receipt_recorded(self, receipt) -> None:
        self.positions.append(receipt.pos)
        self.audiences.append(tuple(receipt.audience))
        super().receipt_recorded(receipt)

    def conversation_changed(self, conversation, user_ids) -> None:
        last = conversation.last_message
        self.updates.append((None if last is None else last.text,
                             {m.user_id: m.read_seq for m in conversation.members}))
        super().conversation_changed(conversation, user_ids)
