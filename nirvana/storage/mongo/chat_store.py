"""MongoDB (Beanie) adapter of the chat store (`domain/chat/ports.py` ChatStore).

Reads go to the collections, with the conversation summaries not written yet applied
(summaries.py). Every durable write (messages, receipts, changes) goes through the one
group-commit writer (writer.py), which allocates seqs and stream positions (positions.py).
"""

from __future__ import annotations

import asyncio
import time
from contextlib import nullcontext
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Sequence, TypeVar

from pymongo.errors import DuplicateKeyError

from ...domain.chat.entities import (
    Conversation,
    Message,
    MessageDraft,
    Receipt,
    ReceiptKind,
    StreamPage,
)
from ...domain.chat.listing import ConversationPage, Position, select
from ...domain.chat.ports import Admission
from ...domain.errors import UnavailableError
from ...domain.idempotency import IdempotencyKey, replayed_or_refused
from ...metrics import NO_WRITER_OBSERVER, ChatWriterObserver
from .codec import conversation_doc, creation_key, message_id, message_of, state_doc
from .collections import ChatCollections, by_ids
from .fence import WriterFence
from .history import history_page
from .positions import StreamPositions
from .receipt_hold import RECEIPT_HOLD
from .resume import stream_since
from .message_inserts import InsertMessages, insert_messages
from .sends import ASK_PAUSES, DeliveryPass
from .summaries import Summaries, written_elsewhere
from .summary_buffer import SummaryBuffer, applied
from .upgrade import SeqOrder
from .wire import WireInserts
from .work_items import Mark, Op, Send, consume
from .writer import ChatWriter

_NEVER = datetime.min.replace(tzinfo=timezone.utc)

T = TypeVar("T")
# How many times a conversation read or resume is read while tenures change under it.
READ_ATTEMPTS = 3


class MongoChatStore:
    def __init__(self, *, max_batch: int = 1000, timeout: float = 5.0,
                 summary_interval: float = 5.0, summary_share: float = 0.2,
                 summary_slices: int = 10, summary_clock: Callable[[], float] = time.monotonic,
                 commit_spacing: float = 0.01, spacing_from: int = 12,
                 short_spacing: float = 0.008, short_from: int = 5, max_inflight: int = 1,
                 insert: InsertMessages | None = None, own_connection: bool = False,
                 observer: ChatWriterObserver = NO_WRITER_OBSERVER,
                 db: ChatCollections | None = None,
                 fence: WriterFence | None = None,
                 delivery_pass: DeliveryPass = nullcontext,
                 ask_pauses: tuple[float, float] = ASK_PAUSES,
                 receipt_hold: float = RECEIPT_HOLD) -> None:
        """`insert` writes a batch's message documents (default: one unordered insert_many);
        tests pass one that fails. `own_connection`: the writer's inserts go over a plain
        connection of their own (wire.py; for the embedded store). `observer` is told of
        every batch (nirvana/metrics.py). `db`: the collections (tests pass one that counts
        reads). `fence`: tests pass one that fails. `delivery_pass`: opened around the
        answers of a batch of several messages, so a socket's frames of it go out in one
        write (the wiring passes ws/transport.py's). `summary_clock`: see `Summaries`.
        `ask_pauses`: the first and last pause before asking a silent store again
        (sends.py; tests shorten them). `receipt_hold`: the longest a writer woken by
        receipts alone waits for the rest of their message's (receipt_hold.py; tests
        lengthen it)."""
        self._db = db if db is not None else ChatCollections()
        self.positions = StreamPositions(self._db)
        self._seq_order = SeqOrder(self._db)
        self.fence = fence or WriterFence()  # stamps what the writer inserts (several instances)
        self.summaries = Summaries(self._db, interval=summary_interval, share=summary_share,
                                   slices=summary_slices, clock=summary_clock,
                                   fence=self.fence)
        self._wire: WireInserts | None = None
        if insert is None:
            insert = insert_messages(self._db)
            if own_connection:
                insert = self._wire = WireInserts(self._db, insert, timeout=timeout)
        self.writer = ChatWriter(self._db, self.positions, self.summaries,
                                 insert, fence=self.fence, max_batch=max_batch,
                                 commit_spacing=commit_spacing, timeout=timeout,
                                 spacing_from=spacing_from, short_spacing=short_spacing,
                                 short_from=short_from, max_inflight=max_inflight,
                                 observer=observer, delivery_pass=delivery_pass,
                                 ask_pauses=ask_pauses, receipt_hold=receipt_hold)
        # Several instances (REDIS_URL): set while another process runs the writer (see
        # `follow`): the head is then that writer's.
        self._leader_head: Callable[[], Awaitable[int]] | None = None

    @property
    def batches(self) -> int:
        """How many commits served the writes so far (for benchmarks and tests)."""
        return self.writer.batches

    # -- conversations ----------------------------------------------------------------

    async def _recover(self) -> None:
        # A follower writes nothing, summaries included: they are the writer's to repair.
        # Again when a `forget` overtook it (this process led again): a read on the new
        # tenure's buffer before it is recovered misses the messages past the checkpoint.
        while self._leader_head is None and not self.summaries.recovered:
            await self.summaries.recover()

    async def _read_recovered(self, read: Callable[[], Awaitable[T]], *,
                              or_refuse: bool = False) -> T:
        """`read()`, the summaries recovered first, and again if a `forget` came during it
        (the generation moved): deposed and leading again meanwhile, it applied the
        earlier tenure's buffer and a new one not recovered yet, both without what another
        writer stored past the checkpoint and did not summarise. At most READ_ATTEMPTS
        times: every failed lead forgets too, and a slow read under a lease that keeps
        failing would otherwise never be answered. The last read is answered as read, or,
        `or_refuse`, refused `unavailable` if the generation moved across it too: a resume
        (its client would pass what it missed for good; a conversation read is repaired
        by the next)."""
        for _ in range(READ_ATTEMPTS):
            await self._recover()
            generation = self.summaries.generation
            found = await read()
            if generation == self.summaries.generation:
                return found
        if or_refuse:
            raise UnavailableError("The chat writer changed during the read; retry.")
        return found

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        return await self._read_recovered(
            lambda: self._read_conversation({"_id": conversation_id}))

    async def get_conversations(self, conversation_ids: Sequence[str]) -> list[Conversation]:
        if not conversation_ids:
            return []
        return await self._read_recovered(lambda: self._read_conversations(conversation_ids))

    async def _read_conversations(self, ids: Sequence[str]) -> list[Conversation]:
        unwritten = self.summaries.unwritten()  # before the read: see `Summaries.unwritten`
        found = await self._db.read_conversations(list(ids))
        later = self.summaries.unwritten(unwritten)
        return [applied(c, later) for c in found]

    async def find_direct(self, direct_key: str) -> Conversation | None:
        return await self._read_recovered(
            lambda: self._read_conversation({"direct_key": direct_key}))

    async def _read_conversation(self, query: dict[str, Any]) -> Conversation | None:
        unwritten = self.summaries.unwritten()  # before the read: see `Summaries.unwritten`
        c = await self._db.read_conversation(query)
        if c is None:
            return None
        self._hint_last_seq(c)
        return applied(c, self.summaries.unwritten(unwritten))

    def _hint_last_seq(self, c: Conversation) -> None:
        """Hand this process's writer the stored last_seq just read (unwritten summaries not
        applied), so a send that follows makes one read of the store less (sends.py
        `hint_last_seq`). Following, the writer numbers nothing: nothing is handed."""
        if self._leader_head is None:
            self.writer.hint_last_seq(c.id, c.last_seq)

    async def create_conversation(self, c: Conversation, direct_key: str | None,
                                  key: IdempotencyKey | None = None) -> Conversation:
        # The state first: a conversation is never stored without one (a crash in between
        # leaves a state nothing refers to, which costs nothing).
        await self._db.states.insert_one(state_doc(c))
        try:
            await self._db.conversations.insert_one(conversation_doc(c, direct_key, key))
        except DuplicateKeyError:
            await self._db.states.delete_one({"_id": c.id})
            if key is not None:  # a group's _id and direct_key are new: its key was taken
                found = await self.keyed_conversation(c.created_by, key)
            elif direct_key is not None:
                found = await self.find_direct(direct_key)  # the pair raced: one wins
            else:
                raise
            assert found is not None
            return found
        self._hint_last_seq(c)  # its state as just stored
        return c

    async def keyed_conversation(self, created_by: int, key: IdempotencyKey
                                 ) -> Conversation | None:
        d = await self._db.conversations.find_one(
            {"idempotency_key": creation_key(created_by, key)},
            projection={"idempotency_fingerprint": 1})
        if d is None:
            return None
        replayed_or_refused(key, d.get("idempotency_fingerprint"))
        return await self.get_conversation(d["_id"])

    async def conversations_of(self, user_id: int, limit: int, after: Position | None = None
                               ) -> ConversationPage:
        return await self._read_recovered(lambda: self._conversations_of(user_id, limit, after))

    async def _conversations_of(self, user_id: int, limit: int, after: Position | None
                                ) -> ConversationPage:
        mine = self.summaries.unwritten()  # before the reads: see `Summaries.unwritten`
        ids = [d["_id"] async for d in self._db.conversations.find(
            {"member_ids": user_id}, projection={"_id": 1})]
        # Following, the writer's summaries are not in this process: read from the store.
        elsewhere = (await written_elsewhere(self._db, set(ids))
                     if self._leader_head is not None else None)

        def unwritten() -> list[SummaryBuffer]:  # asked after each read: see `unwritten`
            return [elsewhere] if elsewhere is not None else self.summaries.unwritten(mine)
        if len(ids) <= limit:  # one page holds them all: read whole at once
            found = await self._db.read_conversations(ids)
            for buffer in unwritten():
                for c in found:
                    buffer.apply(c)
            chosen, _ = select({c.id: c.last_activity for c in found}, after, limit)
            by_id = {c.id: c for c in found}
            return ConversationPage([by_id[cid] for cid in chosen], None)
        # The page by activity, counting summaries not written yet; only its conversations
        # are then read whole, and listed in the order chosen (a send meanwhile may make
        # one newer than it shows: it is announced live, see listing.py).
        # The rule of `SummaryBuffer.apply` (the highest seq's time, not the latest time), so
        # a conversation has one position whichever branch reads it.
        states = await by_ids(self._db.states, ids, {"last_activity": 1, "last_seq": 1})
        activity = {d["_id"]: d["last_activity"] for d in states}
        seqs = {d["_id"]: d.get("last_seq", 0) for d in states}
        for buffer in unwritten():
            for cid in ids:
                m = buffer.last.get(cid)
                if m is not None and m.seq > seqs.get(cid, 0):
                    activity[cid], seqs[cid] = m.created_at, m.seq
        chosen, following = select({cid: activity.get(cid, _NEVER) for cid in ids},
                                   after, limit)
        found = await self._db.read_conversations(chosen)
        for buffer in unwritten():
            for c in found:
                buffer.apply(c)
        by_id = {c.id: c for c in found}
        return ConversationPage([by_id[cid] for cid in chosen if cid in by_id], following)

    async def member_conversation(self, user_id: int, conversation_id: str
                                  ) -> Conversation | None:
        return await self._read_recovered(
            lambda: self._member_conversation(user_id, conversation_id))

    async def _member_conversation(self, user_id: int, conversation_id: str
                                   ) -> Conversation | None:
        # The list's reads for one id (`_conversations_of`), so a conversation read alone
        # shows what its list item shows, also on a process that is not the writer.
        mine = self.summaries.unwritten()  # before the reads: see `Summaries.unwritten`
        elsewhere = (await written_elsewhere(self._db, {conversation_id})
                     if self._leader_head is not None else None)
        found = await self._db.read_conversations([conversation_id])
        if not found or found[0].member(user_id) is None:
            return None
        return applied(found[0], [elsewhere] if elsewhere is not None
                       else self.summaries.unwritten(mine))

    # -- messages ---------------------------------------------------------------------

    async def messages(self, conversation_id: str, *, before: int | None, after: int | None,
                       limit: int) -> list[Message]:
        return await self.history(conversation_id, before=before, after=after, limit=limit)

    async def sent(self, sender_id: int, client_id: str) -> Message | None:
        d = await self._db.messages.find_one({"_id": message_id(sender_id, client_id)})
        return message_of(d) if d is not None else None

    async def history(self, conversation_id: str, *, before: int | None, after: int | None,
                      limit: int, hidden_for: int | None = None) -> list[Message]:
        """`messages`, without those `hidden_for` deleted for themselves (history.py)."""
        return await history_page(self._db, conversation_id, before=before, after=after,
                                  limit=limit, hidden_for=hidden_for,
                                  floor=lambda: self._seq_floor(conversation_id))

    async def _seq_floor(self, conversation_id: str) -> int:
        """A lower bound of the conversation's highest seq (history.py): the highest this
        process stored, when it stored any (never below the stored summary's, which it
        wrote or which came before it); else the stored summary's."""
        held = self.summaries.highest_seq(conversation_id)
        if held is not None:
            return held
        d = await self._db.states.find_one({"_id": conversation_id}, projection={"last_seq": 1})
        return d.get("last_seq", 0) if d else 0

    def admission(self) -> Admission:
        return self.writer.admission()

    def append(self, draft: MessageDraft, *, admitted: Admission,
               on_stored: Callable[[Message], None] | None = None
               ) -> asyncio.Future[tuple[Message, bool]]:
        loop = asyncio.get_running_loop()
        send = Send(draft, loop.create_future(), on_stored=on_stored)
        # Bounded: a store that hangs yields an error naming the send, never a hang. The
        # write may still land later: it is then handed to `on_stored`, and a retry with
        # the same client_id finds it. A timer, not a coroutine under asyncio.timeout: the
        # writer answers a send by resolving its future, with no task of its own.
        send.deadline = loop.call_later(self.writer.timeout * 2, send.expire)
        self.writer.enqueue(send, admitted)  # now, not when awaited: the order is the call's
        return send.future

    async def record_receipt(self, conversation_id: str, user_id: int, kind: ReceiptKind,
                             seq: int, audience: tuple[int, ...], *,
                             on_recorded: Callable[[Receipt | None], None] | None = None
                             ) -> Receipt | None:
        future: asyncio.Future[Receipt | None] = asyncio.get_running_loop().create_future()
        mark = Mark(conversation_id, user_id, kind, seq, audience, future, on_done=on_recorded)
        self.writer.enqueue(mark)
        return await self.writer.wait(mark)

    async def serialized(self, run: Callable[[Callable[[], int]], Awaitable[Any]], *,
                         conversation_id: str | None = None,
                         flushes_itself: bool = False, bounded: bool = True,
                         on_done: Callable[[Any], None] | None = None) -> Any:
        """Run `run(next_pos)` in the writer; `next_pos()` allocates a stream position.
        When `run` returns, every position it took is written: the last becomes the head.
        `conversation_id`: the only conversation `run` reads or writes, if one; its
        buffered summary (every one, without it) is flushed first, unless `flushes_itself`.
        `bounded`: the caller is answered store_timeout after the writer's bound (the op
        still runs later); without it, it waits for the op itself (refused at close).
        `on_done`: handed the result as the writer has it, or None when the op failed
        after its caller stopped waiting (work_items.py `Answered`)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        op = Op(run, future, conversation_id, flushes_itself, on_done=on_done)
        self.writer.enqueue(op)
        if bounded:
            return await self.writer.wait(op)
        future.add_done_callback(consume)  # a caller cancelled meanwhile leaves it unread
        return await asyncio.shield(future)

    async def head(self) -> int:
        if self._leader_head is not None:
            return await self._leader_head()
        return await self.positions.committed()

    async def stream_since(self, user_id: int, since: int, limit: int) -> StreamPage:
        # The summaries must cover every stored message up to the head (read after them).
        return await self._read_recovered(lambda: self._stream_since(user_id, since, limit),
                                          or_refuse=True)

    async def _stream_since(self, user_id: int, since: int, limit: int) -> StreamPage:
        return await stream_since(self._db, self.summaries, self._seq_order, user_id, since,
                                  await self.head(), limit,
                                  others_unwritten=self._leader_head is not None)

    # -- several instances: who runs the writer (nirvana/chat_writer_role.py) ----------

    async def follow(self, leader_head: Callable[[], Awaitable[int]]) -> None:
        """Another process runs the writer from now: this one commits nothing, asks it for
        the head (its own positions would lag the writer's), and reads the summaries that
        writer has not written yet from the messages past the checkpoint."""
        self._leader_head = leader_head
        self.writer.may_commit = lambda: False
        self.writer.forget_seqs()  # and the floors reads offered (last_seqs.py `SeqFloors`)
        self.writer.members.forget()
        await self.summaries.forget()

    async def lead(self, may_commit: Callable[[], bool], epoch: int) -> None:
        """This process runs the writer from now, while `may_commit()`, as the holder of
        the lease's `epoch`: the store refuses older epochs' inserts first (fence.py), then
        seqs, positions and summaries are loaded from it again, as at a start, since
        another process wrote before. The earlier tenure's commits stop first: once the
        fence stamps `epoch`, a batch it took would pass it, before `writer.lead` begins the
        new tenure (the role follows before it leads, but this does not count on it)."""
        self.writer.may_commit = lambda: False
        await self.fence.raise_to(self._db, epoch)
        self._leader_head = None
        self.writer.lead(may_commit)
        self.positions.forget()
        await self.summaries.forget()

    async def stop_taking(self) -> None:
        """At a stop, before the role steps down: the writer takes nothing more, and the
        commits it began land while it still leads (writer.py `stop_taking`)."""
        await self.writer.stop_taking()

    async def close(self) -> None:
        await self.writer.close()
        if self._wire is not None:
            self._wire.close()
        await self.summaries.flush_quietly()  # what a crash would leave to the next start's repair
