"""The writer's message commit: seqs, one insert per batch, retries, and sends in doubt.

Seqs are allocated in memory from the highest stored seq of the conversation (read once per
conversation), so a seq stays only with a message that is written. This assumes one writer
process per database; several processes would take a per-conversation lease first.

A seq is never duplicated, and never changed once a message is delivered or acked: clients
address messages by seq (react, edit, `reply_to`). So a store failure may leave one unused:
an insert with no answer, one of whose messages was not stored while a later one of its
conversation was. (A message taken back, `_sort_out`, may have shown on a history page
before it is stored again under another seq: clients match by id.) docs/protocol.md says so
("Ordering and delivery guarantees").

Idempotency costs nothing on the way: a message's `_id` is derived from its (sender,
client_id) (`codec.message_id`), so the primary key is also the idempotency key, and a retry
of a stored message fails its insert with a duplicate `_id`; only then is the stored message
read, and the seqs that batch gave its conversation are taken back (`_sort_out`). A lookup of
every batch's ids before its insert would cost both processes CPU on every batch, for
retries that are rare.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import Any, Awaitable, Callable, Container, Iterable

from pymongo import DESCENDING, UpdateOne
from pymongo.errors import BulkWriteError

from ...domain.chat.entities import Message
from ...domain.errors import UnavailableError
from .codec import is_duplicate_id, message_doc, message_id, message_of
from .collections import ChatCollections
from .fence import FencedOutError, WriterFence, is_fenced_out
from .positions import StreamPositions
from .summaries import Summaries
from .work_items import Send, stored

log = logging.getLogger("nirvana.chat.store")
MAX_IN_DOUBT = 10_000  # sends remembered as in doubt (see `SendCommitter.reconcile`)
# Sends answered per turn of the event loop: each answer delivers its message to every
# recipient, so a batch of hundreds answered at once held the loop (pings, reads, timers)
# for one long step. Why 32: docs/performance.md ("Answering big batches in chunks").
ANSWER_CHUNK = 32
LAST_SEQ_READS = 16  # conversations whose highest seq is read at once (`_load_last_seqs`)

# Writes one batch's message documents in one round trip (an unordered insert); raises
# BulkWriteError naming the documents not written. Injected so tests can make it fail.
InsertMessages = Callable[[list[dict[str, Any]]], Awaitable[None]]


# Opens a delivery pass around a batch's answers (its chunks and the turns between): the
# frames they deliver go out per socket at its end, one write each (ws/transport.py).
# Injected by the wiring; storage knows nothing of sockets.
DeliveryPass = Callable[[], AbstractContextManager[None]]


def insert_messages(db: ChatCollections) -> InsertMessages:
    async def insert(docs: list[dict[str, Any]]) -> None:
        if len(docs) == 1:
            await _insert_alone(db.messages, docs[0])
        else:
            await db.messages.insert_many(docs, ordered=False)
    return insert


async def _insert_alone(messages: Any, doc: dict[str, Any]) -> None:
    """One document as a plain `insert` command, failing as `insert_many` does. At light load
    every send is a commit of its own, and pymongo's bulk path costs more client CPU per
    call than the command, on every message's way (docs/performance.md, "Answering big
    batches in chunks")."""
    reply = await messages.database.command(
        {"insert": messages.name, "documents": [doc], "ordered": False})
    if reply.get("writeErrors"):
        raise BulkWriteError({"writeErrors": reply["writeErrors"], "writeConcernErrors": [],
                              "nInserted": reply.get("n", 0), "nUpserted": 0,
                              "nMatched": 0, "nModified": 0, "nRemoved": 0, "upserted": []})


def _bound(remembered: dict[str, Any]) -> None:
    """Forget the oldest past MAX_IN_DOUBT (a store down for long)."""
    while len(remembered) > MAX_IN_DOUBT:
        del remembered[next(iter(remembered))]


class SendCommitter:
    def __init__(self, db: ChatCollections, positions: StreamPositions, summaries: Summaries,
                 insert: InsertMessages, requeue: Callable[[list[Send]], None],
                 writer_fence: WriterFence, delivery_pass: DeliveryPass = nullcontext) -> None:
        self._db = db
        self._delivery_pass = delivery_pass
        self._writer_fence = writer_fence  # stamps the documents (several instances)
        self._positions = positions
        self._summaries = summaries
        self._insert_docs = insert
        self._requeue = requeue  # puts sends back at the head of the writer's queue
        self._last_seq: dict[str, int] = {}
        # Sends of a batch that failed without an answer (a timeout, a lost connection):
        # stored or not, nobody knows yet. See `reconcile`.
        self._in_doubt: dict[str, Send] = {}
        self._unseen: dict[str, None] = {}  # in doubt, and not found stored when asked
        # Message id -> the position its last write with no answer gave it: a message
        # found stored elsewhere was written by an earlier attempt (see `reconcile`).
        self._tried_at: dict[str, int] = {}
        # Message id -> its position in a batch whose take-back got no answer: the delete,
        # conditional on that position, is issued again before anything is looked for.
        self._taking_back: dict[str, int] = {}

    def forget_seqs(self) -> None:
        """Re-read seqs from the store before the next allocation: never reuse a seq."""
        self._last_seq.clear()

    def forget_doubts(self) -> None:
        """A new tenure as the writer: see `ChatWriter.lead`."""
        self._in_doubt.clear()
        self._unseen.clear()
        self._tried_at.clear()
        self._taking_back.clear()

    def doubt(self, sends: list[Send]) -> None:
        for s in sends:
            self._in_doubt[s.key] = s
        _bound(self._in_doubt)

    async def reconcile(self) -> None:
        """The sends in doubt that the store did write (it answered too late, or the answer
        was lost) are delivered now, once, and summarised; the sender's retry then finds
        each as a duplicate. Those not written (yet: the store may still be working through
        requests sent before it stalled) are remembered in `_unseen`: if one turns up
        under a retry's insert, that retry delivers it (`_sort_out`).

        A batch's take-back that got no answer is done again first, and answered, so its
        messages are never delivered from that batch (their senders were refused: their
        retries are numbered afresh)."""
        doubt, self._in_doubt = self._in_doubt, {}
        fresh: list[Message] = []
        try:
            if self._taking_back:
                await self._take_back(self._taking_back)
                self._taking_back.clear()
            found = [message_of(d) async for d in self._db.messages.find(
                {"_id": {"$in": list(doubt)}})]
            # Found where its last attempt put it, or written by an earlier one that was
            # never found: never delivered. Else an earlier attempt's message was acked or
            # delivered already (this send was a retry of it): the retry after this one
            # answers it as a duplicate, and it is not delivered again.
            fresh = [m for m in found
                     if self._tried_at.get(m.id) == m.pos or m.id in self._unseen]
            moved = await self._move_to_head(fresh)
        except BaseException:
            self._in_doubt = {**doubt, **self._in_doubt}
            # A move with no answer may have landed: found at neither its tried position
            # nor the old one, each is still stored and never delivered.
            for m in fresh:
                self._unseen[m.id] = None
            raise
        for key in doubt:
            self._tried_at.pop(key, None)
        for key in doubt.keys() - {m.id for m in found}:
            self._unseen[key] = None
        _bound(self._unseen)
        # In chunks, as `settle` answers: after a store stall thousands may be found, and
        # one pass would give each member socket all of them in one write, past its bounds.
        # Cancelled between chunks (the writer closing), the rest stay stored at their new
        # positions: clients get them on resume, and the next start's recover summarises them.
        for start in range(0, len(moved), ANSWER_CHUNK):
            if start:
                await asyncio.sleep(0)
            with self._delivery_pass():
                for m in moved[start:start + ANSWER_CHUNK]:
                    log.info("a send in doubt was stored: delivered late as position %d",
                             m.pos)
                    self._unseen.pop(m.id, None)  # unseen when asked before: a retry duplicates
                    self._summaries.add(m, moved=True)
                    stored(doubt[m.id].on_stored, m)

    async def _move_to_head(self, messages: list[Message]) -> list[Message]:
        """Give stored messages that were never delivered fresh positions, in their order:
        connections may have moved past the positions they were given. Each keeps its seq
        (history reads may have shown it already), so it may now come after a higher seq
        of its conversation: marked `moved`, so a restart's `Summaries.recover` knows its
        position from its document (resume finds a conversation by its newest position,
        resume.py)."""
        moved = []
        for m in sorted(messages, key=lambda m: m.pos):
            moved.append(replace(m, pos=self._positions.allocate()))
        if moved:
            await self._db.messages.bulk_write(
                [UpdateOne({"_id": m.id}, {"$set": {"pos": m.pos, "moved": True}})
                 for m in moved],
                ordered=False)
            self._positions.stored(moved[-1].pos)
        return moved

    async def commit(self, sends: list[Send]) -> None:
        """Store the batch's messages and answer each send (and its duplicates)."""
        written = await self.prepare(sends)
        await self.settle(written, await self.write(written))

    @property
    def clean(self) -> bool:
        """No send is in doubt or unseen: no batch will move a message to a fresh position
        (`_move_to_head`), so batches may be written while others are in flight. Moving
        one with a batch in flight would deliver it before that batch's lower positions."""
        return not self._in_doubt and not self._unseen and not self._taking_back

    async def prepare(self, sends: list[Send], *, repair: bool = True
                      ) -> list[tuple[Send, Message]]:
        """Number the batch: each new message gets its conversation's next seq and the next
        stream position, in queue order (a retry in the batch shares its first send's).
        With `repair`, the sends in doubt are looked for first (`reconcile`)."""
        if repair and self._in_doubt:
            await self.reconcile()
        primary: dict[tuple[int, str], Send] = {}
        for s in sends:
            key = (s.draft.sender_id, s.draft.client_id)
            if key in primary:
                primary[key].duplicates.append(s)
            else:
                primary[key] = s
        await self._load_last_seqs({s.draft.conversation_id for s in primary.values()})
        written: list[tuple[Send, Message]] = []
        for s in primary.values():
            d = s.draft
            self._last_seq[d.conversation_id] += 1
            written.append((s, Message(
                id=s.key, conversation_id=d.conversation_id,
                seq=self._last_seq[d.conversation_id], pos=self._positions.allocate(),
                sender_id=d.sender_id, client_id=d.client_id, kind=d.kind, text=d.text,
                attachments=d.attachments, reply_to=d.reply_to, created_at=d.created_at,
                audience=d.audience)))
        return written

    async def write(self, written: list[tuple[Send, Message]],
                    fence: Callable[[], None] = lambda: None) -> dict[int, dict[str, Any]]:
        """The one insert of a prepared batch: the write error of each message not
        inserted, by its index. Raises when the store gave no answer. `fence` raises when
        this process may no longer write; it is called once the documents are encoded,
        right before the insert, so a pause in between cannot outlast it unseen."""
        try:
            return await self._insert((m for _, m in written), fence)
        except BaseException:
            self._unanswered(written)
            raise

    def _unanswered(self, written: list[tuple[Send, Message]]) -> None:
        """The batch fails unanswered (the writer puts its sends in doubt): its messages
        may be stored, or some of them, and where (`reconcile`)."""
        for _, m in written:
            self._tried_at[m.id] = m.pos
        _bound(self._tried_at)

    async def settle(self, written: list[tuple[Send, Message]],
                     failed: dict[int, dict[str, Any]]) -> None:
        """After the batch's insert, and after every batch prepared before it is settled:
        sort out failures, move the head, answer each send (and its duplicates), in order,
        `ANSWER_CHUNK` at a time with a turn of the event loop between: the caller must not
        let anything else answer or deliver meanwhile (the writer settles one batch at a
        time, in batch order)."""
        moved: Container[str] = ()
        if failed:
            try:
                written, moved = await self._sort_out(written, failed)
            except BaseException:  # nothing answered yet: the writer doubts the batch
                self._unanswered(written)
                raise
        if written:  # the positions of the refused are skipped (positions.py)
            self._positions.stored(max(m.pos for _, m in written))
        # The batch's deliveries are one pass: a socket gets all its frames of the batch in
        # one write. Per chunk, a chunk's 32 messages reach ~32 rooms, so nearly every frame
        # was a write of its own (docs/performance.md, "Where the real server's CPU per
        # send goes").
        with self._delivery_pass():
            for start in range(0, len(written), ANSWER_CHUNK):
                if start:
                    # Each answer delivered its message already (`on_stored`); the pause
                    # lets the loop serve other sockets and timers between chunks.
                    await asyncio.sleep(0)
                for s, m in written[start:start + ANSWER_CHUNK]:
                    self._unseen.pop(m.id, None)  # stored now: a retry is a plain duplicate
                    self._summaries.add(m, moved=m.id in moved)
                    s.answer(m, True)
                    for dup in s.duplicates:
                        dup.answer(m, False)

    async def _sort_out(self, written: list[tuple[Send, Message]],
                        failed: dict[int, dict[str, Any]]
                        ) -> tuple[list[tuple[Send, Message]], set[str]]:
        """After an insert with failures: answer each failed send, and return the writes
        that stand (each answered as stored now), and the ids of those among them moved to
        the head (`_move_to_head`). A duplicate `_id` is a retry of a stored
        message: answered with it, or, when that message is one the store wrote after
        giving no answer (`_unseen`) and so was never delivered, delivered by this retry.
        Any other failure (another writer's seq, see the module docstring, or a document
        refused) fails its send, and seqs are re-read. Either way the failed message's seq
        is a gap in the batch's run of that conversation, so the batch's other messages of
        that conversation are taken back (deleted, unanswered and undelivered as they are)
        and queued first for the next batch, which numbers them from the store again."""
        retries = {i for i, e in failed.items() if is_duplicate_id(e)}
        retried_in = {written[i][1].conversation_id for i in failed}
        redo = [(s, m) for i, (s, m) in enumerate(written)
                if i not in failed and m.conversation_id in retried_in]
        if redo:
            # Only at the positions this batch gave them: a delete with no answer that
            # runs late must not take a message stored later under the same `_id` (a retry).
            taking_back = {m.id: m.pos for _, m in redo}
            self._taking_back.update(taking_back)
            _bound(self._taking_back)
            await self._take_back(taking_back)
            for key in taking_back:  # a new tenure (`forget_doubts`) may have cleared them
                self._taking_back.pop(key, None)
        for cid in retried_in:
            self._last_seq.pop(cid, None)
        stored = await self._stored_already(
            (written[i][0].draft.sender_id, written[i][0].draft.client_id) for i in retries)
        landed = {m.id: m for m in await self._move_to_head(
            [m for m in stored.values() if m.id in self._unseen])}
        stands: list[tuple[Send, Message]] = []
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
        self._requeue([s for s, _ in redo])
        taken_back = {id(s) for s, _ in redo}
        return [(s, m) for i, (s, m) in enumerate(written)
                if i not in failed and id(s) not in taken_back] + stands, set(landed)

    async def _take_back(self, positions: dict[str, int]) -> None:
        """Delete these messages, each only if stored at the given position."""
        await self._db.messages.delete_many(
            {"$or": [{"_id": key, "pos": pos} for key, pos in positions.items()]})

    async def _stored_already(self, keys: Iterable[tuple[int, str]]
                              ) -> dict[tuple[int, str], Message]:
        """The stored messages of these (sender, client_id) keys."""
        wanted = set(keys)
        if not wanted:
            return {}
        cursor = self._db.messages.find({"_id": {"$in": [message_id(*k) for k in wanted]}})
        return {(d["sender_id"], d["client_id"]): message_of(d) async for d in cursor
                if (d["sender_id"], d["client_id"]) in wanted}

    async def _insert(self, messages: Iterable[Message],
                      fence: Callable[[], None] = lambda: None) -> dict[int, dict[str, Any]]:
        """Insert in one round trip; the write error of each message not inserted, by its
        index."""
        docs = [message_doc(m) for m in messages]
        stamped = self._writer_fence.epoch
        if stamped is not None:  # several instances (fence.py)
            docs = [self._writer_fence.stamp(d) for d in docs]
        fence()
        try:
            await self._insert_docs(docs)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(is_fenced_out(e) for e in errors):
                # Another instance writes now (fence.py). Nothing here is in doubt: the
                # embedded store refuses the insert whole, and on MongoDB a part that
                # landed before the fence rose was loaded by the next writer, whose retries
                # of it answer as stored.
                raise FencedOutError(stamped) from None
            return {e["index"]: e for e in errors}
        return {}

    async def _load_last_seqs(self, conversation_ids: set[str]) -> None:
        """The highest stored seq of each conversation not known yet. The summary's
        last_seq is a lower bound (it may lag the messages); from it, the (conversation_id,
        seq) index finds the rest in one short range instead of a scan of the history."""
        missing = sorted(conversation_ids - self._last_seq.keys())
        if not missing:
            return
        floors = {d["_id"]: d.get("last_seq", 0) async for d in self._db.states.find(
            {"_id": {"$in": missing}}, projection={"last_seq": 1})}

        async def load(cid: str) -> int:
            floor = floors.get(cid, 0)
            d = await self._db.messages.find_one(
                {"conversation_id": cid, "seq": {"$gte": floor}},
                sort=[("seq", DESCENDING)], projection={"seq": 1})
            return d["seq"] if d else floor

        # A few at a time, not one after another: the first batch after a start holds
        # every active conversation, and the writer waits for all of them. A group is
        # recorded only once every read of it has ended, and not at all if one failed, so
        # no read outliving a failed batch writes a seq the next batch already passed.
        for i in range(0, len(missing), LAST_SEQ_READS):
            group = missing[i:i + LAST_SEQ_READS]
            seqs = await asyncio.gather(*(load(cid) for cid in group), return_exceptions=True)
            for seq in seqs:
                if isinstance(seq, BaseException):
                    raise seq
            self._last_seq.update(zip(group, seqs))
