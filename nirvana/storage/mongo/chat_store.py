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
conversation), so they have no gaps: a seq stays only with a message that is written. This
assumes one writer process per database; several processes would take a per-conversation
lease first.

Idempotency costs nothing on the way: a message's `_id` is derived from its (sender,
client_id) (`message_id`), so the primary key is also the idempotency key, and a retry of a
stored message fails its insert with a duplicate `_id`; only then is the stored message read,
and the seqs that batch gave its conversation are taken back (`_sort_out`). A lookup of every
batch's ids before its insert cost ~0.4 ms of this process's CPU and as much of the embedded
store's per batch, for retries that are rare. Conversation summaries are written after the
ack, coalesced: see `chat_summaries.py`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Iterable

from beanie import Document
from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from ...domain.chat.entities import (
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
from ...domain.chat.search import terms_of
from ...domain.errors import UnavailableError
from ...tasks import cancel_and_wait
from .summaries import CHECKPOINT_ID, SummaryBuffer, mark_field, marks_doc
from .one_commit import OneCommit
from .upgrade import split_states

log = logging.getLogger("nirvana.chat.store")
_NEVER = datetime.min.replace(tzinfo=timezone.utc)
MAX_IN_DOUBT = 10_000  # sends remembered as in doubt (see MongoChatStore._reconcile)


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

    class Settings:
        name = "chat_conversations"
        indexes = [
            IndexModel([("direct_key", ASCENDING)], unique=True),
            IndexModel([("member_ids", ASCENDING)]),
        ]


class ConversationStateDoc(Document):
    """What every message and receipt changes: the last message and seq, and each member's
    read and delivered marks (`marks`: str(user_id) -> {"read": seq, "delivered": seq}).

    Apart from `ConversationDoc` because of what an update costs the embedded store: it
    rewrites every index entry of the document, whatever the update changes. Measured on an
    idle store, 100 summary updates in one transaction: ~180 ms on the conversation document
    (its multikey member_ids index holds an entry per member), ~45 ms here (only `_id`). Under
    load the flushes that took 550-850 ms stalled the message inserts committing meanwhile."""

    id: str  # type: ignore[assignment]
    last_seq: int = 0
    last_message: dict[str, Any] | None = None
    last_activity: datetime
    marks: dict[str, dict[str, int]] = {}

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
    attachments: list[dict[str, Any]]
    reply_to: int | None
    created_at: datetime
    audience: list[int]
    edited_at: datetime | None = None
    deleted: bool = False

    class Settings:
        name = "chat_messages"
        indexes = [
            # Unique: a second writer (or a write that landed after its timeout) can never
            # reuse a seq. Idempotency needs no index of its own: see `message_id`.
            IndexModel([("conversation_id", ASCENDING), ("seq", ASCENDING)], unique=True),
            # Resume reads a user's conversations by position. Not (audience, pos): that
            # multikey index took one entry per member of every message, and index entries
            # are most of what a write costs the embedded store (0.64 ms a message with it,
            # 0.45 ms with this; `make bench`'s store ceiling is 0.06 ms a bare document).
            IndexModel([("conversation_id", ASCENDING), ("pos", ASCENDING)]),
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


class ChatMetaDoc(Document):
    """Small facts about the chat store: the summary checkpoint (`CHECKPOINT_ID`), the
    resume floor, the highest pruned pos (mongo_chat_changes.py), and whether conversation
    states were split out of older databases' conversations (mongo_chat_upgrade.py)."""

    id: str  # type: ignore[assignment]
    pos: int = 0

    class Settings:
        name = "chat_meta"


DOCUMENTS = [ConversationDoc, ConversationStateDoc, MessageDoc, EventDoc, ChatMetaDoc]


# -- mapping -----------------------------------------------------------------------------

_MESSAGE_IDS = uuid.UUID("5d1f3c2e-6a0b-4f7e-9c41-2b8e0d7a9f13")


def message_id(sender_id: int, client_id: str) -> str:
    """The `_id` of the message a sender sends under `client_id`: the same for every retry,
    so the primary key enforces idempotency. Ids are not secrets; reads check membership."""
    return uuid.uuid5(_MESSAGE_IDS, f"{sender_id}:{client_id}").hex


def _duplicate_id(error: dict[str, Any]) -> bool:
    """A bulk write error for an `_id` already stored (MongoDB and the embedded server name
    the index in `keyPattern`; a server that does not, in the message)."""
    if error.get("code") != 11000:
        return False
    pattern = error.get("keyPattern")
    if pattern is not None:
        return list(pattern) == ["_id"]
    return "index: _id_ " in error.get("errmsg", "")


def _bound(remembered: dict[str, Any]) -> None:
    """Forget the oldest past MAX_IN_DOUBT (a store down for long)."""
    while len(remembered) > MAX_IN_DOUBT:
        del remembered[next(iter(remembered))]


def _member_doc(m: Member) -> dict[str, Any]:
    return {"user_id": m.user_id, "role": m.role.value}


def marks_of(members: Iterable[Member]) -> dict[str, int]:
    """`$max` operands raising the state's marks to those of `members`."""
    raise_to = {}
    for m in members:
        raise_to[mark_field(m.user_id, "read")] = m.read_seq
        raise_to[mark_field(m.user_id, "delivered")] = m.delivered_seq
    return raise_to


def state_doc(c: Conversation) -> dict[str, Any]:
    return {"_id": c.id, "last_seq": c.last_seq,
            "last_message": message_doc(c.last_message) if c.last_message else None,
            "last_activity": c.last_activity,
            "marks": marks_doc((m.user_id, m.read_seq, m.delivered_seq) for m in c.members)}


def message_doc(m: Message) -> dict[str, Any]:
    return {
        "_id": m.id, "conversation_id": m.conversation_id, "seq": m.seq, "pos": m.pos,
        "sender_id": m.sender_id, "client_id": m.client_id, "kind": m.kind.value,
        "text": m.text, "reply_to": m.reply_to, "created_at": m.created_at,
        "attachments": [{"url": a.url, "kind": a.kind.value, "name": a.name, "size": a.size}
                        for a in m.attachments],
        "audience": list(m.audience), "edited_at": m.edited_at, "deleted": m.deleted,
        "hidden_for": list(m.hidden_for),
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
        hidden_for=tuple(d.get("hidden_for", ())),
    )


def conversation_of(d: dict[str, Any], state: dict[str, Any] | None) -> Conversation:
    """A conversation from its document and its state (see `ConversationStateDoc`); a
    conversation whose state is missing (not expected) reads as one without messages."""
    s = state or {}
    marks = s.get("marks") or {}
    members = []
    for m in d["members"]:
        mark = marks.get(str(m["user_id"])) or {}
        members.append(Member(m["user_id"], Role(m["role"]), mark.get("read", 0),
                              mark.get("delivered", 0)))
    return Conversation(
        id=d["_id"], kind=ConversationKind(d["kind"]), members=members,
        created_by=d["created_by"], created_at=d["created_at"],
        last_activity=s.get("last_activity") or d["created_at"], name=d.get("name"),
        description=d.get("description"), avatar_url=d.get("avatar_url"),
        last_seq=s.get("last_seq", 0),
        last_message=message_of(s["last_message"]) if s.get("last_message") else None,
    )


def receipt_of(d: dict[str, Any]) -> Receipt:
    return Receipt(pos=d["pos"], conversation_id=d["conversation_id"], user_id=d["user_id"],
                   kind=ReceiptKind(d["kind"]), seq=d["seq"], audience=tuple(d["audience"]))


# -- the writer --------------------------------------------------------------------------

@dataclass
class _Send:
    draft: MessageDraft
    future: asyncio.Future[tuple[Message, bool]]
    duplicates: list[_Send] = field(default_factory=list)  # the same key, in this batch
    landed_late: Callable[[Message], None] | None = None
    deadline: asyncio.TimerHandle | None = None  # fails `future` with store_timeout
    settled: bool = False  # answered by the writer (a send past its deadline is not yet)

    def _settle(self) -> None:
        self.settled = True
        if self.deadline is not None:
            self.deadline.cancel()

    def answer(self, message: Message, created: bool) -> None:
        self._settle()
        if not self.future.done():
            self.future.set_result((message, created))
        elif created and self.landed_late is not None:
            # The sender was told store_timeout (or stopped waiting): still delivered.
            self.landed_late(message)

    def refuse(self, exc: BaseException) -> None:
        """Fail this send and the duplicates that share its write."""
        for send in [self, *self.duplicates]:
            send._settle()
            _fail(send.future, exc)

    def expire(self) -> None:
        """The deadline: the sender hears store_timeout now; the writer still settles the
        send (a message it stores then goes to `landed_late`)."""
        _fail(self.future, UnavailableError(
            "The message store did not answer in time; retry with the same client_id.",
            code="store_timeout"))


@dataclass
class _Op:
    """A change run by the writer in order with sends and receipts, so the positions it
    takes are committed in order like theirs (see mongo_chat_changes.py)."""

    run: Callable[[Callable[[], int]], Awaitable[Any]]
    future: asyncio.Future[Any]

    def refuse(self, exc: BaseException) -> None:
        _fail(self.future, exc)


@dataclass
class _Mark:
    conversation_id: str
    user_id: int
    kind: ReceiptKind
    seq: int
    audience: tuple[int, ...]
    future: asyncio.Future[Receipt | None]

    def refuse(self, exc: BaseException) -> None:
        _fail(self.future, exc)


def _resolve(future: asyncio.Future, result: Any) -> None:
    if not future.done():  # the caller may have timed out and gone
        future.set_result(result)


def _consume(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: a late failure is not logged as unhandled


def _fail(future: asyncio.Future, exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


class ChatCollections:
    """The chat store's collections, looked up per use: Beanie binds the documents to a
    database at start-up (and tests rebind them), so they are never held."""

    @property
    def _conversations(self):
        return ConversationDoc.get_pymongo_collection()

    @property
    def _messages(self):
        return MessageDoc.get_pymongo_collection()

    @property
    def _events(self):
        return EventDoc.get_pymongo_collection()

    @property
    def _meta(self):
        return ChatMetaDoc.get_pymongo_collection()

    @property
    def _states(self):
        return ConversationStateDoc.get_pymongo_collection()

    async def _read_conversation(self, query: dict[str, Any]) -> Conversation | None:
        """The conversation `query` finds, with its state; as stored (no buffered summary)."""
        if "_id" in query:  # both at once
            d, state = await asyncio.gather(self._conversations.find_one(query),
                                            self._states.find_one({"_id": query["_id"]}))
        else:
            d = await self._conversations.find_one(query)
            state = await self._states.find_one({"_id": d["_id"]}) if d else None
        return conversation_of(d, state) if d else None

    async def _read_conversations(self, ids: list[str]) -> list[Conversation]:
        docs, states = await asyncio.gather(
            _collect(self._conversations.find({"_id": {"$in": ids}})),
            _collect(self._states.find({"_id": {"$in": ids}})))
        by_id = {state["_id"]: state for state in states}
        return [conversation_of(d, by_id.get(d["_id"])) for d in docs]


class MongoChatStore(ChatCollections):
    def __init__(self, *, max_batch: int = 1000, timeout: float = 5.0,
                 summary_interval: float = 5.0, summary_share: float = 0.2,
                 commit_spacing: float = 0.01) -> None:
        self._max_batch = max_batch
        # Group commit with a delay, under load only: a commit starts at least this long
        # after the one before it started, and what arrives meanwhile shares it. An idle
        # writer commits at once (its last commit is long past), so a lone send waits for
        # nothing. A round trip costs about the same whatever it carries (insert_many: ~0.45
        # ms of this process's CPU for 1 document, ~1.1 ms for 30; the embedded store ~0.8 ms
        # a document in batches of 3, ~0.4 ms in batches of 30), and back to back, commits
        # carried ~2 messages at 500 sends/s. Measured with bench.profile_chat at 5,000
        # deliveries/s, three settings alternated twice: 0 ms: server 89-92 µs and store
        # 95-100 µs of CPU per delivery, p50 6-10 ms, p99 54-98 ms; 10 ms: 68-80 / 74-84 µs,
        # p50 13-15 ms; 20 ms: 55-73 / 65-78 µs, p50 20-25 ms, p99 46-83 ms. 20 ms was
        # chosen then. Since sends are answered by callbacks (a batch costs less to answer),
        # 10 ms: the store's work comes in smaller bursts, and the event loop, which shares
        # the core with it, waits less behind each. `make bench`'s chat part (steps 500 and
        # 2,000 sends/s, 3 repetitions), alternated twice against 20 ms: at 5,000
        # deliveries/s loop lag p99 5.0-7.5 (median 6.0) against 5.9-10.8 ms (6.85), p50
        # 12-14 against 20-24 ms, server CPU per delivery 64-74 against 52-74 µs; at 20,000
        # (core saturated) nothing late in 6 runs of 6 against late messages in 3 runs
        # (the store falling behind: p99 up to 6.9 s), p50 1.2-2.2 against 1.0-4.7 s, server
        # 27.6-29.1 against 26.0-53.8 µs per delivery. The full run with it: loop lag p99
        # at 5,000 deliveries/s 2.76 ms (5.70 before), p50 10.6 ms (20.1) (README, results).
        self.commit_spacing = commit_spacing
        self._last_commit = -commit_spacing
        self._timeout = timeout
        # A flush writes one update per conversation that had messages since the last,
        # however many: the longer the interval, the fewer updates per message. What waits
        # costs little: reads apply the buffer, and a crash leaves at most this much to
        # re-summarise at the next start. Measured with bench.profile_chat at 5,000
        # deliveries/s (100 busy conversations), 5 s against 1 s, alternated three times:
        # store CPU per delivery 50-65 µs against 65-75, event-loop lag p99 5.6-8.1 ms
        # against 8.6-13.0; most seconds' worst latency ~30-40 ms against ~50-80.
        self.summary_interval = summary_interval
        # At most this share of the time goes to summary flushes: after a flush that took
        # T seconds the next waits at least T * (1 / share - 1). A summary update costs
        # the embedded store ~0.45 ms idle, and more under load, so with thousands of
        # active conversations a fixed interval would starve the sends.
        self.summary_share = summary_share
        self._summaries = SummaryBuffer()
        self._flushing: SummaryBuffer | None = None
        self._summary_lock = asyncio.Lock()
        self._one_commit = OneCommit()
        self._next_flush = 0.0
        self._flusher: asyncio.Task[None] | None = None
        self._recovered = False
        self._pending: list[_Send | _Mark | _Op] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._last_seq: dict[str, int] = {}
        self._head: int | None = None  # the last position allocated
        self._head_loading: asyncio.Task[None] | None = None
        # The last position whose write has finished: every position up to it is stored
        # (or was never stored, its write having failed). `head()` answers this, not
        # `_head`, so a resume that replays up to head() cannot miss an event still in
        # flight (its live delivery comes later, and is then not a duplicate).
        self._committed = 0
        # Sends of a batch that failed without an answer (a timeout, a lost connection):
        # stored or not, nobody knows yet. See `_reconcile`.
        self._in_doubt: dict[str, _Send] = {}
        self._unseen: dict[str, None] = {}  # in doubt, and not found stored when asked
        self.batches = 0  # for benchmarks: how many commits served the sends

    # -- conversations ----------------------------------------------------------------

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        await self._recover()
        c = await self._read_conversation({"_id": conversation_id})
        return self._summarised(c) if c else None

    async def find_direct(self, direct_key: str) -> Conversation | None:
        await self._recover()
        c = await self._read_conversation({"direct_key": direct_key})
        return self._summarised(c) if c else None

    async def create_conversation(self, c: Conversation, direct_key: str | None
                                  ) -> Conversation:
        doc = {
            "_id": c.id, "kind": c.kind.value, "direct_key": direct_key or f"group:{c.id}",
            "member_ids": list(c.member_ids), "members": [_member_doc(m) for m in c.members],
            "created_by": c.created_by, "created_at": c.created_at, "name": c.name,
            "description": c.description, "avatar_url": c.avatar_url,
        }
        # The state first: a conversation is never stored without one (a crash in between
        # leaves a state nothing refers to, which costs nothing).
        await self._states.insert_one(state_doc(c))
        try:
            await self._conversations.insert_one(doc)
        except DuplicateKeyError:
            await self._states.delete_one({"_id": c.id})
            if direct_key is None:
                raise
            found = await self.find_direct(direct_key)  # the pair raced: one wins
            assert found is not None
            return found
        return c

    async def conversations_of(self, user_id: int, limit: int) -> list[Conversation]:
        await self._recover()
        ids = [d["_id"] async for d in self._conversations.find(
            {"member_ids": user_id}, projection={"_id": 1})]
        if len(ids) > limit:
            # The newest `limit` by activity, counting summaries not written yet; only
            # those are then read whole.
            activity = {d["_id"]: d["last_activity"] async for d in self._states.find(
                {"_id": {"$in": ids}}, projection={"last_activity": 1})}
            for buffer in self._unwritten():
                for cid in ids:
                    m = buffer.last.get(cid)
                    if m is not None:
                        activity[cid] = max(activity.get(cid, _NEVER), m.created_at)
            ids = sorted(ids, key=lambda cid: activity.get(cid, _NEVER), reverse=True)[:limit]
        found = [self._summarised(c) for c in await self._read_conversations(ids)]
        found.sort(key=lambda c: c.last_activity, reverse=True)
        return found[:limit]

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

    def append(self, draft: MessageDraft, *,
               landed_late: Callable[[Message], None] | None = None
               ) -> asyncio.Future[tuple[Message, bool]]:
        loop = asyncio.get_running_loop()
        send = _Send(draft, loop.create_future(), landed_late=landed_late)
        # Bounded: a store that hangs yields an error naming the send, never a hang. The
        # write may still land later: it is then handed to `landed_late`, and a retry with
        # the same client_id finds it. A timer, not a coroutine waiting under
        # asyncio.timeout and shield: the writer answers a send by resolving its future.
        send.deadline = loop.call_later(self._timeout * 2, send.expire)
        self._enqueue(send)  # now, not when awaited: the order is the call's
        return send.future

    async def record_receipt(self, conversation_id: str, user_id: int, kind: ReceiptKind,
                             seq: int, audience: tuple[int, ...]) -> Receipt | None:
        future: asyncio.Future[Receipt | None] = asyncio.get_running_loop().create_future()
        self._enqueue(_Mark(conversation_id, user_id, kind, seq, audience, future))
        return await self._wait(future)

    async def _wait(self, future: asyncio.Future) -> Any:
        # Bounded: a store that hangs yields an error, never a hang (see `submit`).
        try:
            async with asyncio.timeout(self._timeout * 2):
                return await asyncio.shield(future)
        except TimeoutError:
            # The writer still resolves the future later; nobody awaits it any more.
            future.add_done_callback(_consume)
            raise UnavailableError("The message store did not answer in time; retry.",
                                   code="store_timeout") from None

    async def head(self) -> int:
        if self._head is None:
            # One load however many sockets connect at once after a start: each load sorts
            # the whole stream, and a thousand of them at once timed out on the store.
            if self._head_loading is None or self._head_loading.done():
                self._head_loading = asyncio.get_running_loop().create_task(
                    self._load_head())
            await asyncio.shield(self._head_loading)
        return self._committed

    async def _load_head(self) -> None:
        # The newest position is at or past the summary checkpoint (a position a summary
        # was written for is stored): starting the (pos) index there reads a few entries.
        # Unbounded, the embedded store sorted the whole stream: ~3 s at 110,000 messages.
        found = await self._meta.find_one({"_id": CHECKPOINT_ID})
        floor = {"pos": {"$gte": found["pos"]}} if found else {}
        top = 0
        for coll in (self._messages, self._events):
            d = await coll.find_one(floor, sort=[("pos", DESCENDING)], projection={"pos": 1})
            if d is None and floor:  # not expected: nothing at or past the checkpoint
                d = await coll.find_one({}, sort=[("pos", DESCENDING)], projection={"pos": 1})
            if d:
                top = max(top, d["pos"])
        self._head = max(self._head or 0, top)
        self._committed = max(self._committed, top)

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
            # A change reads the conversation and writes parts of it (members, last
            # message): the deferred summaries must be in it first, or the change would
            # write back stale read marks or a pre-edit last message. Nothing can add to
            # the buffer meanwhile: only this (writer) task does.
            await self._flush_summaries()
            _resolve(op.future, await op.run(self._next_pos))
        except Exception as exc:  # the caller gets it (a domain error or a store error)
            _fail(op.future, exc)

    def _enqueue(self, item: _Send | _Mark | _Op) -> None:
        self._pending.append(item)
        self._wake.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._run(), name="chat-writer")

    async def close(self) -> None:
        for task in (self._writer, self._flusher):
            await cancel_and_wait(task)
        for item in self._pending:
            item.refuse(UnavailableError("The server is stopping."))
        await self._flush_quietly()  # what a crash would leave to the next start's repair

    async def _run(self) -> None:
        while True:
            if not self._pending:
                await self._wake.wait()
            self._wake.clear()
            while self._pending:
                if len(self._pending) < self._max_batch:
                    wait = self._last_commit + self.commit_spacing - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                self._last_commit = time.monotonic()
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                try:
                    await self._commit(batch)
                except Exception as exc:
                    log.warning("chat write batch failed: %s", type(exc).__name__)
                    self._last_seq.clear()  # re-read from the store: never reuse a seq
                    self._doubt([i for i in batch
                                 if isinstance(i, _Send) and not i.settled])
                    for item in batch:
                        item.refuse(UnavailableError("The message store is unavailable; "
                                                     "retry with the same client_id."))
                if self._summaries and (self._flusher is None or self._flusher.done()):
                    self._flusher = asyncio.get_running_loop().create_task(
                        self._flush_later(), name="chat-summaries")

    async def _flush_later(self) -> None:
        """Write the buffered summaries in the background, paced (see `summary_share`):
        sends are acknowledged without waiting for them, and never queue behind a flush."""
        while self._summaries:
            wait = self._next_flush - time.monotonic()
            await asyncio.sleep(max(wait, self.summary_interval))
            started = time.monotonic()
            await self._flush_quietly()
            took = time.monotonic() - started
            self._next_flush = time.monotonic() + took * (1 / self.summary_share - 1)

    # -- conversation summaries (see chat_summaries.py) --------------------------------

    def _summarised(self, c: Conversation) -> Conversation:
        """`c` as read from the store, with the summaries not written yet applied (those
        being written and those buffered), so a reader sees every acknowledged message.
        Why not flush first: under load a flush takes seconds, and every read that missed
        the conversation cache (the first send to a conversation, too) would queue on it."""
        for buffer in self._unwritten():
            buffer.apply(c)
        return c

    def _unwritten(self) -> list[SummaryBuffer]:
        """The summaries not stored yet, oldest first: those being flushed, then those
        buffered since."""
        if self._flushing is None:
            return [self._summaries]
        return [self._flushing, self._summaries]

    async def _flush_quietly(self) -> None:
        try:
            await self._flush_summaries()
        except Exception as exc:  # kept in the buffer; the next flush retries
            log.warning("conversation summary flush failed: %s", type(exc).__name__)
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            # pymongo can swallow a cancel that lands inside an operation: honour it here,
            # or close() would wait for a writer that went back to sleep.
            raise asyncio.CancelledError()

    async def _flush_summaries(self) -> None:
        # Serialised: flushes apply in order, and the checkpoint never passes a summary
        # that another flush has not written yet.
        async with self._summary_lock:
            buffer, self._summaries = self._summaries, SummaryBuffer()
            if not buffer:
                return
            self._flushing = buffer  # still applied to reads until written
            try:
                # One commit: the summaries and the checkpoint past them land together.
                await self._one_commit.write([
                    (self._states, buffer.operations(message_doc)),
                    (self._meta, [UpdateOne({"_id": CHECKPOINT_ID},
                                            {"$max": {"pos": buffer.top_pos}}, upsert=True)])])
            except BaseException:
                buffer.merge(self._summaries)
                self._summaries = buffer
                raise
            finally:
                self._flushing = None

    async def _recover(self) -> None:
        """Once per store object: summarise the messages past the checkpoint (a crash
        between an ack and its summary flush leaves some)."""
        if self._recovered:
            return
        async with self._summary_lock:
            if self._recovered:
                return
            await split_states(self)  # an older database's, once
            found = await self._meta.find_one({"_id": CHECKPOINT_ID})
            since = found["pos"] if found else None
            if since is None:
                # A database written before summaries were deferred had them written
                # inline: everything stored so far is summarised.
                top = await self._messages.find_one({}, sort=[("pos", DESCENDING)],
                                                    projection={"pos": 1})
                await self._meta.update_one({"_id": CHECKPOINT_ID},
                                            {"$max": {"pos": top["pos"] if top else 0}},
                                            upsert=True)
            else:
                async for d in self._messages.find({"pos": {"$gt": since}}):
                    self._summaries.add(message_of(d))
                if self._summaries:
                    log.info("re-summarising %d conversations after a restart",
                             len(self._summaries.last))
            self._recovered = True
        if self._summaries:
            await self._flush_summaries()

    async def _commit(self, batch: list[_Send | _Mark | _Op]) -> None:
        self.batches += 1
        await self._recover()
        if self._head is None:
            await self._load_head()
        sends = [i for i in batch if isinstance(i, _Send)]
        try:
            if sends:
                await self._commit_sends(sends)
            self._mark_committed()
            for item in batch:
                if isinstance(item, _Mark):
                    await self._commit_mark(item)
                elif isinstance(item, _Op):
                    await self._commit_op(item)
                self._mark_committed()
        finally:
            self._mark_committed()

    def _mark_committed(self) -> None:
        # Called with no await since the write finished: no reader sees a position
        # allocated and not yet written.
        if self._head is not None:
            self._committed = self._head

    def _doubt(self, sends: list[_Send]) -> None:
        for s in sends:
            self._in_doubt[message_id(s.draft.sender_id, s.draft.client_id)] = s
        _bound(self._in_doubt)

    async def _reconcile(self) -> None:
        """The sends in doubt that the store did write (it answered too late, or the answer
        was lost) are delivered now, once, and summarised; the sender's retry then finds
        each as a duplicate. Those not written (yet: the store may still be working through
        requests sent before it stalled) are remembered in `_unseen`: if one turns up
        under a retry's insert, that retry delivers it (`_sort_out`)."""
        doubt, self._in_doubt = self._in_doubt, {}
        try:
            found = [message_of(d) async for d in self._messages.find(
                {"_id": {"$in": list(doubt)}})]
            moved = await self._move_to_head(found)
        except BaseException:
            self._in_doubt = {**doubt, **self._in_doubt}
            raise
        for key in doubt.keys() - {m.id for m in found}:
            self._unseen[key] = None
        _bound(self._unseen)
        for m in moved:
            log.info("a send in doubt was stored: delivered late as position %d", m.pos)
            self._summaries.add(m)
            landed_late = doubt[m.id].landed_late
            if landed_late is not None:
                landed_late(m)

    async def _move_to_head(self, messages: list[Message]) -> list[Message]:
        """Give stored messages that were never delivered fresh positions, in their order:
        connections may have moved past the positions they were given."""
        assert self._head is not None
        moved = []
        for m in sorted(messages, key=lambda m: m.pos):
            self._head += 1
            moved.append(replace(m, pos=self._head))
        if moved:
            await self._messages.bulk_write(
                [UpdateOne({"_id": m.id}, {"$set": {"pos": m.pos}}) for m in moved],
                ordered=False)
        return moved

    async def _commit_sends(self, sends: list[_Send]) -> None:
        if self._in_doubt:
            await self._reconcile()
        primary: dict[tuple[int, str], _Send] = {}
        for s in sends:
            key = (s.draft.sender_id, s.draft.client_id)
            if key in primary:
                primary[key].duplicates.append(s)
            else:
                primary[key] = s
        await self._load_last_seqs({s.draft.conversation_id for s in primary.values()})
        assert self._head is not None
        written: list[tuple[_Send, Message]] = []
        for s in primary.values():
            d = s.draft
            self._last_seq[d.conversation_id] += 1
            self._head += 1
            written.append((s, Message(
                id=message_id(d.sender_id, d.client_id), conversation_id=d.conversation_id,
                seq=self._last_seq[d.conversation_id], pos=self._head, sender_id=d.sender_id,
                client_id=d.client_id, kind=d.kind, text=d.text, attachments=d.attachments,
                reply_to=d.reply_to, created_at=d.created_at, audience=d.audience)))
        failed = await self._insert(m for _, m in written)
        if failed:
            written = await self._sort_out(written, failed)
        for s, m in written:
            self._unseen.pop(m.id, None)  # stored now: a later retry is a plain duplicate
            self._summaries.add(m)
            s.answer(m, True)
            for dup in s.duplicates:
                dup.answer(m, False)

    async def _sort_out(self, written: list[tuple[_Send, Message]],
                        failed: dict[int, dict[str, Any]]) -> list[tuple[_Send, Message]]:
        """After an insert with failures: answer each failed send, and return the writes
        that stand (each answered as stored now). A duplicate `_id` is a retry of a stored
        message: answered with it, or, when that message is one the store wrote after
        giving no answer (`_unseen`) and so was never delivered, delivered by this retry.
        The retry's seq is then a gap in the batch's run of that conversation, so the
        batch's other messages of that conversation are taken back (deleted, unanswered and
        undelivered as they are) and queued first for the next batch, which numbers them
        from the store again. Any other failure is another writer's seq (see the module
        docstring): those sends fail, and seqs are re-read."""
        retries = {i for i, e in failed.items() if _duplicate_id(e)}
        retried_in = {written[i][1].conversation_id for i in retries}
        redo = [(s, m) for i, (s, m) in enumerate(written)
                if i not in failed and m.conversation_id in retried_in]
        if redo:
            await self._messages.delete_many({"_id": {"$in": [m.id for _, m in redo]}})
        for cid in retried_in:
            self._last_seq.pop(cid, None)
        stored = await self._stored_already(
            (written[i][0].draft.sender_id, written[i][0].draft.client_id) for i in retries)
        landed = {m.id: m for m in await self._move_to_head(
            [m for m in stored.values() if m.id in self._unseen])}
        stands: list[tuple[_Send, Message]] = []
        for i in sorted(failed):
            s = written[i][0]
            found = stored.get((s.draft.sender_id, s.draft.client_id))
            if found is not None and found.id in landed:
                del self._unseen[found.id]
                stands.append((s, landed[found.id]))
                continue
            if found is not None:
                for send in [s, *s.duplicates]:
                    send.answer(found, False)
                continue
            if i not in retries:
                self._last_seq.clear()
            s.refuse(UnavailableError("The message could not be stored; retry with the "
                                      "same client_id."))
        # Queued last, after every await: had one failed, these sends would be in doubt
        # with the rest of the batch instead (and their messages are deleted: not found).
        self._pending[:0] = [s for s, _ in redo]
        taken_back = {id(s) for s, _ in redo}
        return [(s, m) for i, (s, m) in enumerate(written)
                if i not in failed and id(s) not in taken_back] + stands

    async def _stored_already(self, keys: Iterable[tuple[int, str]]
                              ) -> dict[tuple[int, str], Message]:
        """The stored messages of these (sender, client_id) keys."""
        wanted = set(keys)
        if not wanted:
            return {}
        cursor = self._messages.find({"_id": {"$in": [message_id(*k) for k in wanted]}})
        return {(d["sender_id"], d["client_id"]): message_of(d) async for d in cursor
                if (d["sender_id"], d["client_id"]) in wanted}

    async def _insert(self, messages: Iterable[Message]) -> dict[int, dict[str, Any]]:
        """Insert in one round trip; the write error of each message not inserted, by its
        index."""
        try:
            await self._messages.insert_many([message_doc(m) for m in messages],
                                              ordered=False)
        except BulkWriteError as exc:
            return {e["index"]: e for e in exc.details.get("writeErrors", [])}
        return {}

    async def _load_last_seqs(self, conversation_ids: set[str]) -> None:
        """The highest stored seq of each conversation not known yet. The summary's
        last_seq is a lower bound (it may lag the messages); from it, the (conversation_id,
        seq) index finds the rest in one short range instead of a scan of the history."""
        missing = sorted(conversation_ids - self._last_seq.keys())
        if not missing:
            return
        floors = {d["_id"]: d.get("last_seq", 0) async for d in self._states.find(
            {"_id": {"$in": missing}}, projection={"last_seq": 1})}
        for cid in missing:
            floor = floors.get(cid, 0)
            d = await self._messages.find_one({"conversation_id": cid, "seq": {"$gte": floor}},
                                              sort=[("seq", DESCENDING)],
                                              projection={"seq": 1})
            self._last_seq[cid] = d["seq"] if d else floor

    async def _commit_mark(self, mark: _Mark) -> None:
        try:
            field_name = mark_field(
                mark.user_id, "read" if mark.kind is ReceiptKind.READ else "delivered")
            raise_to = {field_name: mark.seq}
            if mark.kind is ReceiptKind.READ:  # read implies delivered
                raise_to[mark_field(mark.user_id, "delivered")] = mark.seq
            # Conditional, so a lower or equal mark changes nothing and emits no event.
            # `$not $gte` rather than `$lt`: it also matches a mark not stored yet.
            updated = await self._states.update_one(
                {"_id": mark.conversation_id, field_name: {"$not": {"$gte": mark.seq}}},
                {"$max": raise_to})
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
        from .changes import event_of

        await self._recover()  # the summaries below must cover every stored message
        # Bounded by head: every position up to it is stored, so the queries below see
        # the same complete prefix; anything later reaches the client live.
        head = await self.head()
        window = {"$gt": since, "$lte": head}
        events_query = self._events.find({"audience": user_id, "pos": window}).sort(
            "pos", ASCENDING).limit(limit + 1)
        pages = await asyncio.gather(
            self._messages_since(user_id, window, since, limit),
            _collect(events_query))
        msgs, more = pages[0]
        events = [receipt_of(d) if d["type"] == "receipt" else event_of(d) for d in pages[1]]
        items: list[Message | Receipt | ChatEvent] = sorted([*msgs, *events],
                                                            key=lambda i: i.pos)
        return StreamPage(items=items[:limit], truncated=more or len(items) > limit,
                          head=head)

    async def _messages_since(self, user_id: int, window: dict[str, int], since: int,
                              limit: int) -> tuple[list[Message], bool]:
        """The user's messages in `window`, and whether there may be more than `limit`.

        Through the user's current conversations: one removed from a conversation no longer
        reads it, so its messages are not replayed (the removal event is). `audience` (who
        was a member when it was sent) and `hidden_for` still decide, checked here rather
        than in the query: the embedded store walks the (conversation_id, pos) index only
        for one equality plus one range, and any other clause made it read the whole
        history of the user's conversations (45 ms a resume at 2,000 messages each, which
        is why 1,000 clients could not resume after a restart). Only conversations whose
        last message is past `since` are read at all."""
        ids = [d["_id"] async for d in self._conversations.find(
            {"member_ids": user_id}, projection={"_id": 1})]
        active = [d["_id"] async for d in self._states.find(
            {"_id": {"$in": ids}}, projection={"last_message.pos": 1})
            if self._last_pos(d) > since]
        pages = await asyncio.gather(*(_collect(self._messages.find(
            {"conversation_id": cid, "pos": window}).sort("pos", ASCENDING).limit(limit + 1))
            for cid in active))
        more = any(len(page) > limit for page in pages)
        msgs = [message_of(d) for page in pages for d in page
                if user_id in d.get("audience", ()) and user_id not in d.get("hidden_for", ())]
        return msgs, more

    def _last_pos(self, d: dict[str, Any]) -> int:
        """The position of the newest message of the conversation `d` (a stored summary),
        counting the summaries not written yet."""
        last = (d.get("last_message") or {}).get("pos", 0)
        for buffer in self._unwritten():
            held = buffer.last.get(d["_id"])
            if held is not None:
                last = max(last, held.pos)
        return last


async def _collect(cursor: Any) -> list[dict[str, Any]]:
    return [d async for d in cursor]
