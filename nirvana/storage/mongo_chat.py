"""MongoDB (Beanie) adapter of the chat store, with a group-commit writer.

Every durable chat write (messages and receipts) goes through one writer task. It drains
the queue of pending writes, gives each message the next seq of its conversation and each
event the next stream position, writes all messages of the batch with one unordered
`insert_many`, and only then resolves the callers' futures, in order. Why one writer:

- throughput: the embedded MongoDB-wire server does ~500 single inserts/s but ~3,000 docs/s
  in batches, so under load many sends share one round trip;
- ordering: seqs and positions are allocated and committed by one task, so a client that has
  seen position P has seen every event below P, and resume after P misses nothing.

Seqs are allocated in memory from the highest stored seq of the conversation (read once per
conversation), so they have no gaps: a seq is given only to a message that is then written,
and duplicates (same sender and client_id) are found before allocation. This assumes one
writer process per database; several processes would take a per-conversation lease first.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Awaitable, Callable

import pymongo
from beanie import Document
from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from ..domain.chat_ports import (
    Attachment,
    ChatEvent,
    Conversation,
    ConversationKind,
    Member,
    Message,
    MessageDraft,
    MessageKind,
    Receipt,
    ReceiptKind,
    Role,
    StreamPage,
)
from ..domain.chat_search import terms_of
from ..domain.errors import UnavailableError

log = logging.getLogger("nirvana.chat.store")


class ConversationDoc(Document):
    id: str  # type: ignore[assignment]
    kind: str
    direct_key: str
    member_ids: list[int]
    members: list[dict[str, Any]]
    created_by: int
    created_at: datetime
    last_activity: datetime
    name: str | None = None
    description: str | None = None
    avatar_url: str | None = None
    last_seq: int = 0
    last_message: dict[str, Any] | None = None

    class Settings:
        name = "chat_conversations"
        indexes = [
            IndexModel([("direct_key", ASCENDING)], unique=True),
            IndexModel([("member_ids", ASCENDING), ("last_activity", DESCENDING)]),
        ]


class MessageDoc(Document):
    id: str  # type: ignore[assignment]
    conversation_id: str
    seq: int
    pos: int
    sender_id: int
    client_id: str
    kind: str
    text: str
    attachments: list[dict[str, Any]]
    reply_to: int | None
    created_at: datetime
    audience: list[int]
    edited_at: datetime | None = None
    deleted: bool = False

    class Settings:
        name = "chat_messages"
        indexes = [
            IndexModel([("conversation_id", ASCENDING), ("seq", ASCENDING)], unique=True),
            IndexModel([("sender_id", ASCENDING), ("client_id", ASCENDING)], unique=True),
            IndexModel([("audience", ASCENDING), ("pos", ASCENDING)]),
            IndexModel([("pos", DESCENDING)]),
            IndexModel([("terms", ASCENDING)]),  # message search (domain/chat_search.py)
        ]


class EventDoc(Document):
    """Durable non-message events (receipts), kept for resume."""

    pos: int
    conversation_id: str
    type: str
    user_id: int
    kind: str
    seq: int
    audience: list[int]
    created_at: datetime

    class Settings:
        name = "chat_events"
        indexes = [
            IndexModel([("audience", ASCENDING), ("pos", ASCENDING)]),
            IndexModel([("pos", DESCENDING)]),
            IndexModel([("created_at", ASCENDING)]),  # pruning past the resume window
        ]


DOCUMENTS = [ConversationDoc, MessageDoc, EventDoc]


# -- mapping -----------------------------------------------------------------------------

def _member_doc(m: Member) -> dict[str, Any]:
    return {"user_id": m.user_id, "role": m.role.value, "read_seq": m.read_seq,
            "delivered_seq": m.delivered_seq}


def message_doc(m: Message) -> dict[str, Any]:
    return {
        "_id": m.id, "conversation_id": m.conversation_id, "seq": m.seq, "pos": m.pos,
        "sender_id": m.sender_id, "client_id": m.client_id, "kind": m.kind.value,
        "text": m.text, "reply_to": m.reply_to, "created_at": m.created_at,
        "attachments": [{"url": a.url, "kind": a.kind.value, "name": a.name, "size": a.size}
                        for a in m.attachments],
        "audience": list(m.audience), "edited_at": m.edited_at, "deleted": m.deleted,
        # Search terms are built with the document, so every stored message is findable.
        "terms": [] if m.deleted else terms_of(m.text),
    }


def reactions_of(d: dict[str, Any]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Stored as flat {emoji, user_id} pairs (set operations); grouped per emoji here."""
    grouped: dict[str, list[int]] = {}
    for r in d.get("reactions") or ():
        grouped.setdefault(r["emoji"], []).append(r["user_id"])
    return tuple((e, tuple(users)) for e, users in grouped.items())


def message_of(d: dict[str, Any]) -> Message:
    return Message(
        id=d["_id"], conversation_id=d["conversation_id"], seq=d["seq"], pos=d["pos"],
        sender_id=d["sender_id"], client_id=d["client_id"], kind=MessageKind(d["kind"]),
        text=d["text"], reply_to=d.get("reply_to"), created_at=d["created_at"],
        attachments=tuple(Attachment(a["url"], MessageKind(a["kind"]), a.get("name"),
                                     a.get("size")) for a in d.get("attachments", [])),
        audience=tuple(d.get("audience", ())), edited_at=d.get("edited_at"),
        deleted=d.get("deleted", False), reactions=reactions_of(d),
    )


def conversation_of(d: dict[str, Any]) -> Conversation:
    return Conversation(
        id=d["_id"], kind=ConversationKind(d["kind"]),
        members=[Member(m["user_id"], Role(m["role"]), m.get("read_seq", 0),
                        m.get("delivered_seq", 0)) for m in d["members"]],
        created_by=d["created_by"], created_at=d["created_at"],
        last_activity=d["last_activity"], name=d.get("name"),
        description=d.get("description"), avatar_url=d.get("avatar_url"),
        last_seq=d.get("last_seq", 0),
        last_message=message_of(d["last_message"]) if d.get("last_message") else None,
    )


def receipt_of(d: dict[str, Any]) -> Receipt:
    return Receipt(pos=d["pos"], conversation_id=d["conversation_id"], user_id=d["user_id"],
                   kind=ReceiptKind(d["kind"]), seq=d["seq"], audience=tuple(d["audience"]))


# -- the writer --------------------------------------------------------------------------

@dataclass
class _Send:
    draft: MessageDraft
    future: asyncio.Future[tuple[Message, bool]]
    duplicates: list[asyncio.Future[tuple[Message, bool]]] = field(default_factory=list)


@dataclass
class _Op:
    """A change run by the writer in order with sends and receipts, so the positions it
    takes are committed in order like theirs (see mongo_chat_changes.py)."""

    run: Callable[[Callable[[], int]], Awaitable[Any]]
    future: asyncio.Future[Any]


@dataclass
class _Mark:
    conversation_id: str
    user_id: int
    kind: ReceiptKind
    seq: int
    audience: tuple[int, ...]
    future: asyncio.Future[Receipt | None]


def _resolve(future: asyncio.Future, result: Any) -> None:
    if not future.done():  # the caller may have timed out and gone
        future.set_result(result)


def _fail(future: asyncio.Future, exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


class MongoChatStore:
    def __init__(self, *, max_batch: int = 1000, timeout: float = 5.0) -> None:
        self._max_batch = max_batch
        self._timeout = timeout
        self._pending: list[_Send | _Mark | _Op] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._last_seq: dict[str, int] = {}
        self._head: int | None = None
        self.batches = 0  # for benchmarks: how many commits served the sends

    @property
    def _conversations(self):
        return ConversationDoc.get_pymongo_collection()

    @property
    def _messages(self):
        return MessageDoc.get_pymongo_collection()

    @property
    def _events(self):
        return EventDoc.get_pymongo_collection()

    # -- conversations ----------------------------------------------------------------

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        d = await self._conversations.find_one({"_id": conversation_id})
        return conversation_of(d) if d else None

    async def find_direct(self, direct_key: str) -> Conversation | None:
        d = await self._conversations.find_one({"direct_key": direct_key})
        return conversation_of(d) if d else None

    async def create_conversation(self, c: Conversation, direct_key: str | None
                                  ) -> Conversation:
        doc = {
            "_id": c.id, "kind": c.kind.value, "direct_key": direct_key or f"group:{c.id}",
            "member_ids": list(c.member_ids), "members": [_member_doc(m) for m in c.members],
            "created_by": c.created_by, "created_at": c.created_at,
            "last_activity": c.last_activity, "name": c.name, "description": c.description,
            "avatar_url": c.avatar_url, "last_seq": 0, "last_message": None,
        }
        try:
            await self._conversations.insert_one(doc)
        except DuplicateKeyError:
            if direct_key is None:
                raise
            found = await self.find_direct(direct_key)  # the pair raced: one wins
            assert found is not None
            return found
        return c

    async def conversations_of(self, user_id: int, limit: int) -> list[Conversation]:
        cursor = self._conversations.find({"member_ids": user_id}).sort(
            "last_activity", DESCENDING).limit(limit)
        return [conversation_of(d) async for d in cursor]

    # -- messages ---------------------------------------------------------------------

    async def messages(self, conversation_id: str, *, before: int | None, after: int | None,
                       limit: int) -> list[Message]:
        query: dict[str, Any] = {"conversation_id": conversation_id}
        if after is not None:
            query["seq"] = {"$gt": after}
            cursor = self._messages.find(query).sort("seq", ASCENDING).limit(limit)
            return [message_of(d) async for d in cursor]
        if before is not None:
            query["seq"] = {"$lt": before}
        cursor = self._messages.find(query).sort("seq", DESCENDING).limit(limit)
        return list(reversed([message_of(d) async for d in cursor]))

    async def append(self, draft: MessageDraft) -> tuple[Message, bool]:
        future: asyncio.Future[tuple[Message, bool]] = asyncio.get_running_loop().create_future()
        self._enqueue(_Send(draft, future))
        return await self._wait(future)

    async def record_receipt(self, conversation_id: str, user_id: int, kind: ReceiptKind,
                             seq: int, audience: tuple[int, ...]) -> Receipt | None:
        future: asyncio.Future[Receipt | None] = asyncio.get_running_loop().create_future()
        self._enqueue(_Mark(conversation_id, user_id, kind, seq, audience, future))
        return await self._wait(future)

    async def _wait(self, future: asyncio.Future) -> Any:
        # Bounded: a store that hangs yields an error naming the send, never a hang. The
        # write may still land later; a retry with the same client_id then finds it.
        try:
            async with asyncio.timeout(self._timeout * 2):
                return await asyncio.shield(future)
        except TimeoutError:
            raise UnavailableError("The message store did not answer in time; retry with "
                                   "the same client_id.", code="store_timeout") from None

    async def head(self) -> int:
        if self._head is None:
            await self._load_head()
        assert self._head is not None
        return self._head

    async def _load_head(self) -> None:
        top = 0
        for coll in (self._messages, self._events):
            d = await coll.find_one({}, sort=[("pos", DESCENDING)], projection={"pos": 1})
            if d:
                top = max(top, d["pos"])
        self._head = max(self._head or 0, top)

    async def serialized(self, run: Callable[[Callable[[], int]], Awaitable[Any]]) -> Any:
        """Run `run(next_pos)` in the writer; `next_pos()` allocates a stream position."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._enqueue(_Op(run, future))
        return await self._wait(future)

    def _next_pos(self) -> int:
        assert self._head is not None
        self._head += 1
        return self._head

    async def _commit_op(self, op: _Op) -> None:
        try:
            _resolve(op.future, await op.run(self._next_pos))
        except Exception as exc:  # the caller gets it (a domain error or a store error)
            _fail(op.future, exc)

    def _enqueue(self, item: _Send | _Mark | _Op) -> None:
        self._pending.append(item)
        self._wake.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._run(), name="chat-writer")

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            try:
                await self._writer
            except asyncio.CancelledError:
                pass
        for item in self._pending:
            _fail(item.future, UnavailableError("The server is stopping."))

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                try:
                    await self._commit(batch)
                except Exception as exc:
                    log.warning("chat write batch failed: %s", type(exc).__name__)
                    self._last_seq.clear()  # re-read from the store: never reuse a seq
                    for item in batch:
                        error = UnavailableError("The message store is unavailable; retry "
                                                 "with the same client_id.")
                        _fail(item.future, error)
                        for dup in getattr(item, "duplicates", ()):
                            _fail(dup, error)

    async def _commit(self, batch: list[_Send | _Mark | _Op]) -> None:
        self.batches += 1
        if self._head is None:
            await self._load_head()
        sends = [i for i in batch if isinstance(i, _Send)]
        if sends:
            await self._commit_sends(sends)
        for item in batch:
            if isinstance(item, _Mark):
                await self._commit_mark(item)
            elif isinstance(item, _Op):
                await self._commit_op(item)

    async def _commit_sends(self, sends: list[_Send]) -> None:
        primary: dict[tuple[int, str], _Send] = {}
        for s in sends:
            key = (s.draft.sender_id, s.draft.client_id)
            if key in primary:
                primary[key].duplicates.append(s.future)
            else:
                primary[key] = s
        existing = {}
        # Two $in lists, not an $or of pairs: the embedded store scans for $or but uses the
        # (sender_id, client_id) index for $in; the few extra pairs are filtered out here.
        cursor = self._messages.find({"sender_id": {"$in": sorted({k[0] for k in primary})},
                                      "client_id": {"$in": sorted({k[1] for k in primary})}})
        async for d in cursor:
            if (d["sender_id"], d["client_id"]) in primary:
                existing[(d["sender_id"], d["client_id"])] = message_of(d)
        fresh = [s for k, s in primary.items() if k not in existing]
        for cid in {s.draft.conversation_id for s in fresh} - self._last_seq.keys():
            d = await self._messages.find_one({"conversation_id": cid},
                                              sort=[("seq", DESCENDING)],
                                              projection={"seq": 1})
            self._last_seq[cid] = d["seq"] if d else 0
        assert self._head is not None
        written: list[tuple[_Send, Message]] = []
        for s in fresh:
            d = s.draft
            self._last_seq[d.conversation_id] += 1
            self._head += 1
            written.append((s, Message(
                id=uuid.uuid4().hex, conversation_id=d.conversation_id,
                seq=self._last_seq[d.conversation_id], pos=self._head, sender_id=d.sender_id,
                client_id=d.client_id, kind=d.kind, text=d.text, attachments=d.attachments,
                reply_to=d.reply_to, created_at=d.created_at, audience=d.audience)))
        if written:
            try:
                await self._messages.insert_many([message_doc(m) for _, m in written],
                                                  ordered=False)
            except BulkWriteError as exc:
                # Another writer got there first (see the module docstring): fail those
                # sends, re-read seqs; the caller's retry finds or re-sends its message.
                failed = {e["index"] for e in exc.details.get("writeErrors", [])}
                self._last_seq.clear()
                error = UnavailableError("The message could not be stored; retry with the "
                                         "same client_id.")
                for index in sorted(failed):
                    s = written[index][0]
                    _fail(s.future, error)
                    for dup in s.duplicates:
                        _fail(dup, error)
                written = [w for i, w in enumerate(written) if i not in failed]
            await self._summarise(written)
        for key, s in primary.items():
            if key in existing:
                for f in [s.future, *s.duplicates]:
                    _resolve(f, (existing[key], False))
        for s, m in written:
            _resolve(s.future, (m, True))
            for dup in s.duplicates:
                _resolve(dup, (m, False))

    async def _summarise(self, written: list[tuple[_Send, Message]]) -> None:
        """Keep each conversation's last message, last seq and the sender's read mark."""
        last: dict[str, Message] = {}
        reads: dict[tuple[str, int], int] = {}
        for _, m in written:
            last[m.conversation_id] = m
            reads[(m.conversation_id, m.sender_id)] = m.seq
        ops: list[Any] = [
            UpdateOne({"_id": cid}, {"$max": {"last_seq": m.seq},
                                     "$set": {"last_message": message_doc(m),
                                              "last_activity": m.created_at}})
            for cid, m in last.items()
        ]
        ops += [UpdateOne({"_id": cid, "members.user_id": uid},
                          {"$max": {"members.$.read_seq": seq,
                                    "members.$.delivered_seq": seq}})
                for (cid, uid), seq in reads.items()]
        try:
            await self._conversations.bulk_write(ops, ordered=False)
        except pymongo.errors.PyMongoError:
            # The messages are stored and acknowledged; the summary catches up with the
            # next send ($max), so this is logged, not failed.
            log.warning("conversation summary update failed", exc_info=True)

    async def _commit_mark(self, mark: _Mark) -> None:
        try:
            field_name = "read_seq" if mark.kind is ReceiptKind.READ else "delivered_seq"
            raise_to = {f"members.$[m].{field_name}": mark.seq}
            if mark.kind is ReceiptKind.READ:  # read implies delivered
                raise_to["members.$[m].delivered_seq"] = mark.seq
            # arrayFilters, not `members.$`: the embedded store's positional operator does
            # not follow an $elemMatch query. The query keeps the update conditional, so a
            # lower or equal mark changes nothing and emits no event.
            updated = await self._conversations.update_one(
                {"_id": mark.conversation_id,
                 "members": {"$elemMatch": {"user_id": mark.user_id,
                                            field_name: {"$lt": mark.seq}}}},
                {"$max": raise_to}, array_filters=[{"m.user_id": mark.user_id}])
            if updated.modified_count == 0:
                _resolve(mark.future, None)
                return
            assert self._head is not None
            self._head += 1
            receipt = Receipt(self._head, mark.conversation_id, mark.user_id, mark.kind,
                              mark.seq, mark.audience)
            await self._events.insert_one({
                "pos": receipt.pos, "conversation_id": receipt.conversation_id,
                "type": "receipt", "user_id": receipt.user_id, "kind": receipt.kind.value,
                "seq": receipt.seq, "audience": list(receipt.audience),
                "created_at": datetime.now().astimezone()})
            _resolve(mark.future, receipt)
        except Exception as exc:
            _fail(mark.future, UnavailableError("The receipt could not be stored."))
            log.warning("receipt write failed: %s", exc)

    # -- resume -----------------------------------------------------------------------

    async def stream_since(self, user_id: int, since: int, limit: int) -> StreamPage:
        from .mongo_chat_changes import event_of  # the change events' own module

        head = await self.head()
        query: dict[str, Any] = {"audience": user_id, "pos": {"$gt": since}}
        msgs = [message_of(d) async for d in
                self._messages.find({**query, "hidden_for": {"$ne": user_id}})
                .sort("pos", ASCENDING).limit(limit + 1)]
        events = [receipt_of(d) if d["type"] == "receipt" else event_of(d) async for d in
                  self._events.find(query).sort("pos", ASCENDING).limit(limit + 1)]
        items: list[Message | Receipt | ChatEvent] = sorted([*msgs, *events],
                                                            key=lambda i: i.pos)
        return StreamPage(items=items[:limit], truncated=len(items) > limit, head=head)
