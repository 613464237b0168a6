"""The writer's message commit: seqs, one insert per batch, retries, and asking again.

Seqs are allocated in memory from the highest stored seq of the conversation (read once per
conversation), so a seq stays only with a message that is written. This assumes one writer
process per database; several processes would take a per-conversation lease first.

A seq is never duplicated, and never changed once a message is delivered or acked: clients
address messages by seq (react, edit, `reply_to`). An insert that gets no answer is asked
again with the same documents until the store answers, and nothing else is committed
meanwhile (`_until_answered`), so within one writer's tenure no seq stays unused and every
message keeps the position it was numbered with. (A message taken back, `_sort_out`, may
have shown on a history page before it is stored again under another seq: clients match by
id.) docs/protocol.md says so ("Ordering and delivery guarantees").

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
import time
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Awaitable, Callable, Iterable, TypeVar

from pymongo.errors import BulkWriteError, PyMongoError

from ...domain.chat.entities import Message
from ...domain.errors import UnavailableError
from ...tasks import stop_if_cancelled
from .codec import is_duplicate_key, message_doc, message_id, message_of
from .collections import ChatCollections
from .fence import Aborted, FencedOutError, WriterFence, is_fenced_out
from .head_members import HeadMembers
from .last_seqs import SeqFloors, read_last_seqs
from .message_inserts import InsertMessages, no_answer
from .positions import StreamPositions
from .summaries import Summaries
from .tenures import TenureFence
from .work_items import Send

log = logging.getLogger("nirvana.chat.store")
T = TypeVar("T")
# The first and the last pause before asking the store again after no answer, doubled
# each time: a store that stalled for a moment is asked again soon, one that is down is
# not flooded. The senders' deadlines (chat_store.py `append`) answer them meanwhile.
ASK_PAUSES = (0.05, 1.0)
# Messages taken back after a batch whose late copies may still store them (`_sort_out`):
# remembered per tenure, the oldest forgotten past this many.
MAX_WITHDRAWN = 10_000
# Sends answered per turn of the event loop: each answer delivers its message to every
# recipient, so a batch of hundreds answered at once held the loop (pings, reads, timers)
# for one long step. Why 32: docs/performance.md ("Answering big batches in chunks").
ANSWER_CHUNK = 32

# Opens a delivery pass around the answers of a batch of several messages (its chunks and
# the turns between): the frames they deliver go out per socket at its end, one write each
# (ws/transport.py). Injected by the wiring; storage knows nothing of sockets.
DeliveryPass = Callable[[], AbstractContextManager[None]]


class SendCommitter:
    def __init__(self, db: ChatCollections, positions: StreamPositions, summaries: Summaries,
                 insert: InsertMessages, requeue: Callable[[list[Send]], None],
                 writer_fence: WriterFence, delivery_pass: DeliveryPass = nullcontext,
                 ask_pauses: tuple[float, float] = ASK_PAUSES) -> None:
        self._db = db
        self._ask_pauses = ask_pauses
        self._delivery_pass = delivery_pass
        self._writer_fence = writer_fence  # stamps the documents (several instances)
        self._positions = positions
        self._summaries = summaries
        self._insert_docs = insert
        self._requeue = requeue  # puts sends back at the head of the writer's queue
        self._last_seq: dict[str, int] = {}
        self._floors = SeqFloors()  # conversation reads' stored last_seqs (`hint_last_seq`)
        self._asking = 0  # store requests being asked again (`_until_answered`)
        self._asking_since: float | None = None  # when the first of them began to be
        # Message id -> the (seq, pos) a batch gave it before it was taken back or refused:
        # a late copy of that batch's insert may store it there yet (`_sort_out`).
        self._withdrawn: dict[str, set[tuple[int, int]]] = {}
        # The members at the head where a change committed (head_members.py): a message's
        # audience is its position's membership, whatever its draft read.
        self.members = HeadMembers(db, self._until_answered)

    def forget_seqs(self) -> None:
        """Re-read seqs from the store before the next allocation: never reuse a seq. The
        floors conversation reads offered go too (last_seqs.py `SeqFloors`)."""
        self._last_seq.clear()
        self._floors.clear()

    def _forget_seqs_of(self, conversation_ids: Iterable[str]) -> None:
        for cid in conversation_ids:
            self._last_seq.pop(cid, None)
        self._floors.drop(conversation_ids)

    def _known(self, seqs: dict[str, int]) -> None:
        """Read from the store: a floor offered while the read was under way goes."""
        self._last_seq.update(seqs)
        self._floors.drop(seqs)

    def hint_last_seq(self, conversation_id: str, stored: int) -> None:
        """A conversation read found `stored` as its state's last_seq: the floor of the
        next read of its highest seq, which then reads no state (last_seqs.py)."""
        if conversation_id not in self._last_seq:
            self._floors.offer(conversation_id, stored)

    def forget_withdrawn(self) -> None:
        """A new tenure as the writer: what an earlier one withdrew is not this one's to
        take back (its sender may have retried through another writer meanwhile)."""
        self._withdrawn.clear()

    def _withdraw(self, m: Message) -> None:
        self._withdrawn.setdefault(m.id, set()).add((m.seq, m.pos))
        while len(self._withdrawn) > MAX_WITHDRAWN:
            del self._withdrawn[next(iter(self._withdrawn))]

    @property
    def asking(self) -> bool:
        """A request got no answer (or a batch's follow-up an error) and is being asked
        again: nothing else may be committed until it is done (the writer waits)."""
        return self._asking > 0

    def asking_for(self) -> float:
        """Seconds the store has left a request unanswered (or a follow-up refused); 0 while
        it answers. Chat writes wait meanwhile (metrics.py)."""
        since = self._asking_since
        return 0.0 if since is None else time.monotonic() - since

    async def commit(self, sends: list[Send], fence: TenureFence,
                     generation: int | None = None) -> None:
        """Store the batch's messages and answer each send (and its duplicates).
        `generation`: the summaries' when the batch was taken (`settle`)."""
        if generation is None:
            generation = self._summaries.generation
        written = await self.prepare(sends, fence)
        await self.settle(written, await self.write(written, fence), fence, generation)

    async def prepare(self, sends: list[Send], fence: Callable[[], None] = lambda: None
                      ) -> list[tuple[Send, Message]]:
        """Number the batch: each new message gets its conversation's next seq and the next
        stream position, in queue order (a retry in the batch shares its first send's)."""
        primary: dict[tuple[int, str], Send] = {}
        for s in sends:
            key = (s.draft.sender_id, s.draft.client_id)
            if key in primary:
                primary[key].duplicates.append(s)
            else:
                primary[key] = s
        # A message taken back whose earlier numbering a late copy may still store: its
        # send must not be refused for a failed read. Refused, the copy could land after a
        # later message took a lower seq at a higher position, and seq order would no
        # longer be position order (resume reads by seq); stored, its `_id` refuses the copy.
        withdrawn = bool(self._withdrawn) and any(s.key in self._withdrawn for s in sends)
        await self.members.read_doubted((s.draft.conversation_id for s in sends), fence,
                                        until_done=withdrawn)
        await self.members.refuse_removed(primary, self._stored_already, fence,
                                          until_done=withdrawn)
        conversation_ids = {s.draft.conversation_id for s in primary.values()}
        if withdrawn:
            await self._until_answered(
                lambda: self._load_last_seqs(conversation_ids, fence), fence, until_done=True)
        else:
            await self._load_last_seqs(conversation_ids, fence)
        # Past every await of the batch's before it is numbered: a seq or position read
        # that spanned a lead is the earlier tenure's (tenures.py).
        fence()
        written: list[tuple[Send, Message]] = []
        for s in primary.values():
            d = s.draft
            if (audience := self.members.send_audience(s)) is None:
                continue  # its sender was removed before this position: refused
            self._last_seq[d.conversation_id] += 1
            written.append((s, Message(
                id=s.key, conversation_id=d.conversation_id,
                seq=self._last_seq[d.conversation_id], pos=self._positions.allocate(),
                sender_id=d.sender_id, client_id=d.client_id, kind=d.kind, text=d.text,
                attachments=d.attachments, reply_to=d.reply_to, created_at=d.created_at,
                audience=audience)))
        return written

    async def write(self, written: list[tuple[Send, Message]],
                    fence: Callable[[], None] = lambda: None) -> dict[int, dict[str, Any]]:
        """The one insert of a prepared batch: the write error of each message not
        inserted, by its index. An insert with no answer is asked again, with the same
        documents, until the store answers (`_until_answered`). `fence` raises when this
        process may no longer write; it is called once the documents are encoded, right
        before each ask, so a pause in between cannot outlast it unseen."""
        if not written:  # each send of the batch was answered or refused in `prepare`
            return {}
        docs = [message_doc(m) for _, m in written]
        stamped = self._writer_fence.epoch
        if stamped is not None:  # several instances (fence.py)
            docs = [self._writer_fence.stamp(d) for d in docs]
        # A message taken back whose earlier numbering a late copy may still store is not
        # refused for a store error here either (see `prepare`).
        withdrawn = bool(self._withdrawn) and any(m.id in self._withdrawn for _, m in written)
        return await self._until_answered(lambda: self._insert(docs, stamped), fence,
                                          until_done=withdrawn)

    async def _until_answered(self, ask: Callable[[], Awaitable[T]],
                              fence: Callable[[], None], *, until_done: bool = False) -> T:
        """`ask()` again, after a growing pause, while the store gives no answer: a request
        whose answer was lost may have been carried out, so nothing else is committed until
        it is answered (every ask is the same request: a late copy of an earlier one finds
        its work done). Ends when the writer stops (cancelled), when `fence` raises (this
        process is no longer the writer), or on any answer. With `until_done`, an error
        the store answers (a `PyMongoError`) is asked again too: a batch's follow-up after
        its insert was answered (`_sort_out`'s read and delete, each harmless to repeat)
        must not fail the batch, whose insert stored some of its messages. Why this shape:
        docs/protocol.md ("Ordering and delivery guarantees")."""
        pause, last_pause = self._ask_pauses
        asked_again = False
        logged: set[type] = set()
        try:
            while True:
                fence()
                try:
                    return await ask()
                except Exception as exc:
                    silent = no_answer(exc)
                    # Only the store's own errors: a bug or a document this release
                    # cannot read would fail every ask, and stall every chat write.
                    # After an ask with no answer, an error answered to a later one is
                    # asked again too: the first may still be carried out, and refusing
                    # its batch would let it land under seqs given again meanwhile.
                    answered = (until_done or asked_again) and isinstance(exc, PyMongoError)
                    # A fenced take-back the store aborted every try (fence.py `Aborted`:
                    # not a refusal, nothing of it landed) is such an error too: asked
                    # again, its next check is refused if this writer was deposed (`fence`
                    # and the check end the loop), and a delete by id and position is
                    # harmless to repeat.
                    answered = answered or (until_done and isinstance(exc, Aborted))
                    if ((isinstance(exc, FencedOutError) and not answered)
                            or not (silent or answered)):
                        raise
                    if not asked_again:
                        asked_again = True
                        self._asking += 1
                        if self._asking_since is None:
                            self._asking_since = time.monotonic()
                    if type(exc) not in logged:  # once per kind: a lasting one shows
                        logged.add(type(exc))
                        log.warning("the message store %s (%s: %s): asking again",
                                    "gave no answer" if silent else "answered an error",
                                    type(exc).__name__, exc)
                stop_if_cancelled()  # or a stopping writer asks a silent store forever
                await asyncio.sleep(pause)
                pause = min(pause * 2, last_pause)
        finally:
            if asked_again:
                self._asking -= 1
                if not self._asking:
                    self._asking_since = None

    async def settle(self, written: list[tuple[Send, Message]],
                     failed: dict[int, dict[str, Any]], fence: TenureFence,
                     generation: int | None = None) -> None:
        """After the batch's insert, and after every batch prepared before it is settled:
        sort out failures, move the head, answer each send (and its duplicates), in order,
        `ANSWER_CHUNK` at a time with a turn of the event loop between: the caller must not
        let anything else answer or deliver meanwhile (the writer settles one batch at a
        time, in batch order). `fence.tenure()` raises once the writer led again since the
        batch was taken (tenures.py `TenureFence.tenure`): checked before anything is
        answered, delivered or summarised, and again after each await. `generation`: the
        summaries' (`Summaries.generation`) when the batch was taken; the messages are
        summarised only while it holds. Deposed (its lease lapsed), it answers only while no
        later raise of the store's fence was written (tenures.py
        `TenureFence.unless_taken_over`, before any answer and after each await; `_sort_out`
        checks after its own)."""
        if generation is None:
            generation = self._summaries.generation
        fence.tenure()
        if failed:
            written = await self._sort_out(written, failed, fence)
        else:  # deposed: one read of the store's fence; leading, none
            await fence.unless_taken_over(self._db.meta)
        if written:  # the positions of the refused are skipped (positions.py)
            self._positions.stored(max(m.pos for _, m in written))
        # The batch's deliveries are one pass: a socket gets all its frames of the batch in
        # one write (docs/performance.md, "Where the real server's CPU per send goes"). One
        # message gives a socket one frame: its pass would only keep and write it later
        # (a light load's every commit: "The fixed cost of a commit at light load").
        with self._delivery_pass() if len(written) > 1 else nullcontext():
            for start in range(0, len(written), ANSWER_CHUNK):
                if start:
                    # Each answer delivered its message already (`on_stored`); the pause
                    # lets the loop serve other sockets and timers between chunks.
                    await asyncio.sleep(0)
                    await fence.unless_taken_over(self._db.meta)
                # A `forget` since the batch was taken (the process followed, or led
                # again) emptied the buffer, and the next writer's `recover` summarises
                # these messages from the store: added now, they would sit in the fresh
                # buffer, applied by this process's reads, with text another writer's
                # erasure may have tombstoned since. A lease that lapsed and came back
                # forgets nothing: its batches are still summarised here.
                summarise = generation == self._summaries.generation
                for s, m in written[start:start + ANSWER_CHUNK]:
                    self._withdrawn.pop(m.id, None)
                    if summarise:
                        self._summaries.add(m)
                    s.answer(m, True)
                    for dup in s.duplicates:
                        dup.answer(m, False)

    async def _sort_out(self, written: list[tuple[Send, Message]],
                        failed: dict[int, dict[str, Any]], fence: TenureFence
                        ) -> list[tuple[Send, Message]]:
        """After an insert with failures: answer each failed send, and return the writes
        that stand (each answered as stored now). A duplicate `_id` is one of three:
        - this very message (same seq and position), stored by an ask of this insert whose
          answer was lost: it stands;
        - this send's message as an earlier batch of it numbered it, taken back after that
          batch, stored since by a late copy of that batch's insert: never sent to anyone,
          it is taken back again and the send queued again;
        - a retry of an older stored message: answered with it.
        A seq held by another message is queued again, and seqs are re-read; any other
        failure (a document refused) fails its send. Either way the failed message's seq
        is a gap in the batch's run of that conversation, so the batch's other messages of
        that conversation are taken back (deleted, unanswered and undelivered as they are)
        and queued first for the next batch, which numbers them from the store again.
        The read and the delete are asked until done, whatever error of the store's they
        meet: past the answered insert, failing the batch would refuse messages it stored."""
        # A document that conflicts on both its `_id` and its seq may be reported for
        # either (the embedded store names the seq's index): every duplicate key is looked
        # up by `_id`.
        conflicts = {i for i, e in failed.items() if is_duplicate_key(e)}
        stored = await self._until_answered(lambda: self._stored_already(
            (written[i][0].draft.sender_id, written[i][0].draft.client_id)
            for i in conflicts), fence, until_done=True)
        # `fence` is checked only before each ask: a read answered after a lead is the
        # earlier tenure's, whose withdrawals and answers are not the later one's (settle).
        await fence.unless_taken_over(self._db.meta)

        def found(i: int) -> Message | None:
            s = written[i][0]
            return stored.get((s.draft.sender_id, s.draft.client_id))

        duplicates = {i for i in conflicts if found(i) is not None}
        itself = {i for i in duplicates
                  if (m := found(i)) is not None and (m.seq, m.pos) == (
                      written[i][1].seq, written[i][1].pos)}
        failed = {i: e for i, e in failed.items() if i not in itself}
        if not failed:
            return written
        own_late = {i for i in duplicates - itself
                    if (m := found(i)) is not None
                    and (m.seq, m.pos) in self._withdrawn.get(m.id, ())}
        # A seq held by another message: a late copy of one this tenure withdrew (its send,
        # still queued, takes it back) or another writer's. Queued again, not refused: a
        # retry that came later than messages numbered above a late copy of its own would
        # find it stored below them, where taking it back leaves a gap.
        seq_taken = conflicts - duplicates
        again = own_late | seq_taken
        retried_in = {written[i][1].conversation_id for i in failed}
        redo = [(s, m) for i, (s, m) in enumerate(written)
                if (i not in failed and m.conversation_id in retried_in) or i in again]
        if redo:
            # Only at the positions given: a delete that lands late must not take a message
            # stored since under the same `_id` (a retry).
            taking_back: dict[str, int] = {}
            for i, (s, m) in enumerate(written):
                if i in own_late:
                    late = found(i)
                    assert late is not None
                    taking_back[m.id] = late.pos
                elif i not in failed and m.conversation_id in retried_in:
                    taking_back[m.id] = m.pos
                else:
                    continue
                self._withdraw(m)  # a late copy of this insert may store it yet
            if taking_back:
                await self._until_answered(lambda: self._take_back(taking_back), fence,
                                           until_done=True)
                await fence.unless_taken_over(self._db.meta)
        self._forget_seqs_of(retried_in)
        if seq_taken:
            self.forget_seqs()  # another writer's seq, maybe
            for i in seq_taken:
                self._withdraw(written[i][1])  # an ask with no answer may store it yet
        for i in sorted(failed):
            s = written[i][0]
            if i in again:
                continue
            m = found(i)
            if m is not None:
                for send in [s, *s.duplicates]:
                    send.answer(m, False)
                continue
            s.refuse(UnavailableError("The message could not be stored; retry with the "
                                      "same client_id."))
        # Queued last, after every await: had one failed, these sends would be refused
        # with the rest of the batch instead (and their messages are deleted: not found).
        self._requeue([s for s, _ in redo])
        return [(s, m) for i, (s, m) in enumerate(written)
                if i not in failed and m.conversation_id not in retried_in]

    async def _take_back(self, positions: dict[str, int]) -> None:
        """Delete these messages, each only if stored at the given position; with
        instances, only while the fence lets this writer write (fence.py `writes`)."""
        query = {"$or": [{"_id": key, "pos": pos} for key, pos in positions.items()]}
        await self._writer_fence.writes(
            self._db, lambda session: self._db.messages.delete_many(query, session=session))

    async def _stored_already(self, keys: Iterable[tuple[int, str]]
                              ) -> dict[tuple[int, str], Message]:
        """The stored messages of these (sender, client_id) keys."""
        wanted = set(keys)
        if not wanted:
            return {}
        cursor = self._db.messages.find({"_id": {"$in": [message_id(*k) for k in wanted]}})
        return {(d["sender_id"], d["client_id"]): message_of(d) async for d in cursor
                if (d["sender_id"], d["client_id"]) in wanted}

    async def _insert(self, docs: list[dict[str, Any]], stamped: int | None
                      ) -> dict[int, dict[str, Any]]:
        """Insert in one round trip; the write error of each message not inserted, by its
        index."""
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
            if no_answer(exc):
                # Out of time, or a write concern that failed (MongoDB: what was written
                # may be lost in a failover): nothing is acked yet. Asked again, the same
                # documents find themselves stored (`_sort_out`), answered once kept.
                raise
            return {e["index"]: e for e in errors}
        return {}

    async def _load_last_seqs(self, conversation_ids: set[str],
                              fence: Callable[[], None]) -> None:
        """The highest stored seq of each conversation not known yet (last_seqs.py)."""
        missing = sorted(conversation_ids - self._last_seq.keys())
        if missing:
            await read_last_seqs(self._db, missing, self._floors, fence, self._known)
