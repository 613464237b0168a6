"""Conversation summaries (last seq, last message, the sender's read mark), coalesced.

Why deferred: a summary update rewrites the conversation's state document (see
`ConversationStateDoc`), which on the embedded store costs more than inserting the message
(docs/performance.md). So the writer acknowledges a batch once its messages are stored, and
folds the summaries into a buffer: many sends to one conversation become one update. A
background task writes each conversation's summary about `interval` seconds after it became
dirty, a slice of the buffer at a time, and spends at most `share` of the time doing so (so
sends never wait behind a flush). A read of conversations applies the summaries not written
yet to what it read, rather than waiting for a flush.

Why that is safe: a summary is derived from the messages. The store keeps a checkpoint (the
stream position up to which summaries are written, see `CHECKPOINT_ID`); after a crash the
writer re-summarises the messages past it before its first write or read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable

from pymongo import DESCENDING, UpdateOne

from ...domain.chat.entities import Message
from ...tasks import cancel_and_wait, stop_if_cancelled
from .codec import message_doc, message_of
from .collections import ChatCollections
from .fence import FencedOutError, WriterFence
from .summary_buffer import SummaryBuffer, erased_copy
from .upgrade import mark_seq_order, split_states

log = logging.getLogger("nirvana.chat.store")

CHECKPOINT_ID = "summaries"  # in the chat_meta collection: {"_id": ..., "pos": P}


async def written_elsewhere(db: ChatCollections, conversation_ids: set[str]) -> SummaryBuffer:
    """The summaries of these conversations that another process (the chat writer) may
    not have written yet, rebuilt from the messages past the checkpoint (at most a flush
    interval of them, read through the (pos) index). Read before the conversations: a
    flush landing in between writes states and checkpoint together."""
    found = await db.meta.find_one({"_id": CHECKPOINT_ID})
    since = found["pos"] if found else 0
    newest: dict[str, Any] = {}
    buffer = SummaryBuffer()
    async for d in db.messages.find({"pos": {"$gt": since}}, projection={
            "conversation_id": 1, "seq": 1, "pos": 1, "sender_id": 1}):
        cid = d["conversation_id"]
        if cid not in conversation_ids:
            continue
        senders = buffer.reads.setdefault(cid, {})
        senders[d["sender_id"]] = max(senders.get(d["sender_id"], 0), d["seq"])
        if cid not in newest or newest[cid]["seq"] < d["seq"]:
            newest[cid] = d
    if newest:
        async for d in db.messages.find({"_id": {"$in": [d["_id"] for d in newest.values()]}}):
            buffer.add(message_of(d))
    return buffer


class Summaries:
    """The buffer of summaries not written yet, its paced background flush, and the repair
    of the summaries a crash left unwritten."""

    def __init__(self, db: ChatCollections, *, interval: float, share: float,
                 slices: int = 10, clock: Callable[[], float] = time.monotonic,
                 fence: WriterFence | None = None) -> None:
        """`clock`: monotonic seconds (tests pass one they move, and call `flush_due`).
        `fence`: the chat writer's (several instances), which each flush passes."""
        self._db = db
        self._clock = clock
        self._fence = fence or WriterFence()
        self._refused = False  # a later writer's fence refused a flush (until `forget`)
        # Bumped by `forget`: a flush begun before it never puts its slice back (see
        # `flush`), since `forget` dropped that slice and the next `recover` re-reads it.
        self._generation = 0
        # A conversation's summary is written about this long after it became dirty, one
        # update for every message since, however many: the longer the interval, the fewer
        # updates per message. What waits costs little: reads apply the buffer, and a crash
        # leaves at most this much to re-summarise at the next start (the choice:
        # docs/performance.md).
        self.interval = interval
        # At most this share of the time goes to flushes: after a flush that took T seconds
        # the next waits at least T * (1 / share - 1). With thousands of active
        # conversations a fixed interval would starve the sends.
        self.share = share
        # The background flush wakes `slices` times per interval and writes the
        # conversations due (`SummaryBuffer.due`), each slice its own commit: a flush
        # of all at once landed the store's CPU at once on the core the server shares, a
        # spike in the sends' latency (the figures, and why 10: docs/performance.md,
        # "Summary flushes").
        self.slices = max(1, slices)
        self.commits = 0  # for benchmarks and tests: how many flush commits were written
        # The fence's: every flush is one of its transactions (`flush`), so it is the one
        # that learns whether the server has them.
        self.one_commit = self._fence.transactions
        self._buffer = SummaryBuffer()
        self._flushing: SummaryBuffer | None = None
        self._lock = asyncio.Lock()
        self._next_flush = 0.0
        self._flusher: asyncio.Task[None] | None = None
        self._recovered = False
        # The highest seq of each conversation that this process summarised (a message
        # landing late keeps its older seq, so it may come after a flush of a newer one):
        # a tighter lower bound of the conversation's end than the stored summary, kept
        # for every conversation written to, as the writer keeps its seqs (sends.py).
        self._highest: dict[str, int] = {}
        self._added_top = 0  # the highest position summarised since the last recover
        # Senders an erasure is removing the text of (`erasing`): no flush writes it back
        # after the erasure's first phase, and no read applies it.
        self._erasing: set[int] = set()

    @property
    def generation(self) -> int:
        """Bumped by each `forget`: a batch that records it when taken adds its messages
        only while it is unchanged (sends.py `settle`)."""
        return self._generation

    @property
    def recovered(self) -> bool:
        """`recover` ran since the last `forget` (or the start)."""
        return self._recovered

    def add(self, m: Message, moved: bool = False) -> None:
        """`moved`: `m` was moved to the head with its old seq (an older release's writer
        did; its document says so, read by `recover`)."""
        if self._erasing and m.sender_id in self._erasing:  # while none: one test a send
            m = erased_copy(m)
        self._buffer.add(m, self._clock(), moved)
        self._added_top = max(self._added_top, m.pos)
        if m.seq > self._highest.get(m.conversation_id, 0):
            self._highest[m.conversation_id] = m.seq

    async def erasing(self, user_id: int) -> None:
        """Hold `user_id`'s messages as tombstones until `erased`: those buffered or being
        written now, and those added later (sends stored meanwhile, a `recover`); then wait
        for a slice in flight (built before), which the erasure's first phase, calling this
        first, then tombstones. Kept if the erasure fails: its next run clears it."""
        self._erasing.add(user_id)
        for buffer in filter(None, (self._flushing, self._buffer)):
            for cid, m in list(buffer.last.items()):
                if m.sender_id == user_id:
                    buffer.last[cid] = erased_copy(m)
        async with self._lock:
            pass

    def erased(self, user_id: int) -> None:
        self._erasing.discard(user_id)  # its erasure's last writes committed

    def highest_seq(self, conversation_id: str) -> int | None:
        """The highest seq of the conversation this process stored and summarised, or None
        when it stored none since it started (or became the writer)."""
        return self._highest.get(conversation_id)

    def unwritten(self, before: list[SummaryBuffer] | None = None) -> list[SummaryBuffer]:
        """The summaries not stored yet, oldest first: those being flushed, then those
        buffered since. Take it BEFORE reading the store, and again AFTER, passing the first
        answer as `before`: the answer is both, and `applied` applies both to what was
        read. Before, because a flush may commit between the read and the apply, and the
        buffers taken before still hold what it wrote (a buffer is replaced, never emptied);
        after, because a flush may also have replaced the buffer before the read, and
        summaries added since (a message the read may have seen stored) are only in the new
        one. Applying a summary twice, or one already written, changes nothing (newer
        wins)."""
        now = [self._buffer] if self._flushing is None else [self._flushing, self._buffer]
        if before is None:
            return now
        return before + [b for b in now if not any(b is taken for taken in before)]

    def flush_soon(self) -> None:
        """Start the background flush if summaries wait and none is running."""
        if (self._buffer and not self._refused
                and (self._flusher is None or self._flusher.done())):
            self._flusher = asyncio.get_running_loop().create_task(
                self._flush_later(), name="chat-summaries")

    async def _flush_later(self) -> None:
        """Write the buffered summaries in the background, a slice per tick (`slices`),
        paced (see `share`): sends are acknowledged without waiting for them, and never
        queue behind a flush."""
        while self._buffer and not self._refused:
            wait = self._next_flush - time.monotonic()
            await asyncio.sleep(max(wait, self.interval / self.slices))
            await self.flush_due()

    async def flush_due(self) -> None:
        """One tick of the background flush: write the conversations due now
        (`SummaryBuffer.due`), if any, in one commit."""
        due = self._buffer.due(self._clock(), self.interval, self.slices)
        if not due:
            return
        started = time.monotonic()
        await self.flush_quietly(due)
        took = time.monotonic() - started
        self._next_flush = time.monotonic() + took * (1 / self.share - 1)

    async def stop(self) -> None:
        await cancel_and_wait(self._flusher)

    async def forget(self) -> None:
        """Drop what is buffered and recover again before the next write: this process
        becomes the writer after another one, or stops being it. What is dropped is of
        stored messages past the checkpoint, which the next writer's `recover` re-summarises."""
        # Not waiting for a flush in progress (its `_lock`): it may wait on a slow store
        # or on the fence's turn until the 60 s transaction limit, and the writer's
        # takeover would wait with it; the generation keeps it from merging back. Bumped
        # before the await: a batch the writer takes meanwhile (a lead began its tenure
        # just before) records the new generation, so its messages are still added
        # (sends.py `settle`), to the new buffer.
        self._generation += 1
        self._buffer = SummaryBuffer()
        self._flushing = None  # a late flush's slice no longer applies to reads
        self._refused = False
        self._added_top = 0
        self._highest.clear()
        self._recovered = False
        await self.stop()

    async def flush_quietly(self, conversation_ids: list[str] | None = None) -> None:
        try:
            await self.flush(conversation_ids)
        except FencedOutError as exc:
            # Refused by a later writer's fence (`stamped`, this process's epoch): kept
            # in the buffer (this process's reads apply it) until the writer role makes
            # the process follow, which drops it (`forget`); no tick tries again
            # meanwhile, each would be refused alike. A refusal of an older epoch
            # (answered after this process led again) or an abort (no `stamped`) does not
            # stop the ticks, as the writer's `_deposed` does not stop its commits.
            self._refused = (exc.stamped is not None
                             and exc.stamped == self._fence.epoch)
            log.warning("conversation summary flush failed: %s", type(exc).__name__)
        except Exception as exc:  # kept in the buffer; the next flush retries
            log.warning("conversation summary flush failed: %s", type(exc).__name__)
        # A cancel pymongo hid in a flush's error: or close() would wait for a writer that
        # went back to sleep.
        stop_if_cancelled()

    async def flush(self, conversation_ids: list[str] | None = None) -> None:
        """Write the buffered summaries of these conversations (of every one by default)
        now, in one commit, with the checkpoint as far as every summary is written."""
        # Serialised: flushes apply in order, and the checkpoint never passes a summary
        # that another flush has not written yet.
        async with self._lock:
            if conversation_ids is None:
                buffer, self._buffer = self._buffer, SummaryBuffer()
            elif not any(cid in self._buffer.last for cid in conversation_ids):
                return
            else:
                buffer, self._buffer = self._buffer.split(conversation_ids)
            if not buffer:
                return
            generation = self._generation
            # The checkpoint says every message up to it is summarised: it stops below the
            # first message of the conversations still buffered.
            checkpoint = min([self._added_top,
                              *(pos - 1 for pos in self._buffer.first_pos.values())])
            self._flushing = buffer  # still applied to reads until written
            writes = [(self._db.states, buffer.operations(message_doc)),
                      (self._db.meta, [UpdateOne({"_id": CHECKPOINT_ID},
                                                 {"$max": {"pos": checkpoint}},
                                                 upsert=True)])]
            try:
                # One commit: the summaries and the checkpoint land together. Fenced
                # (several instances): a deposed writer's flush, late, would put back
                # an older summary over the next writer's (an edited or deleted last
                # message). What is refused is safe to drop: its messages are past the
                # stored checkpoint, which the next writer re-summarises from (`recover`,
                # `written_elsewhere`; docs/cluster-chat.md). One process: the same
                # transaction without the check. Either way, tried again in `writes` if
                # the store aborts it (not re-planned as a change is): `writes` is built
                # once from the buffer, `$max` and a `$set` of last_message only where the
                # stored last_seq is not above it, so a rerun writes what the first try
                # would have, whatever committed between.
                await self._fence.writes(self._db, lambda session: self.one_commit.write(
                    writes, session=session))
                self.commits += 1
            except BaseException:
                # Kept for the next flush, unless `forget` came meanwhile: its slice is
                # then of an earlier tenure, older than what `recover` re-reads (an edit
                # keeps the seq, and the buffer keeps the copy it holds at a seq), so
                # merged back it would write an edited or deleted last message back.
                if generation == self._generation:
                    self._buffer = buffer.merged(self._buffer)
                raise
            finally:
                self._flushing = None

    async def recover(self) -> None:
        """Once per store object: summarise the messages past the checkpoint (a crash
        between an ack and its summary flush leaves some)."""
        if self._recovered:
            return
        # A `forget` while this waits for `_lock` or reads (it waits for neither) leaves
        # the reads unadded and `_recovered` false: added, they would be stale copies in
        # the next tenure's buffer (or texts in a follower's, which its reads apply), and
        # the next tenure would not recover. A leader's read then recovers again
        # (chat_store.py `_recover`).
        generation = self._generation
        async with self._lock:
            if self._recovered or generation != self._generation:
                return
            # An earlier tenure's take-back may still delete a message past the checkpoint
            # (a fence raised again at the epoch it held lets it pass, no fence at all
            # too): summarised, it would be the last message of a seq not in history. A
            # take-back checks its tenure and takes its turn with no await between
            # (sends.py `_until_answered`), the turns go in order, and `drained` waits for
            # every turn taken now: so each such take-back ends before these reads, and a
            # later one is refused by its tenure check. docs/cluster-chat.md says why the
            # other writes are safe.
            await self._fence.drained()
            if generation != self._generation:
                return  # a `forget` while this waited: a follower writes nothing
            stored: list[dict[str, Any]] = []
            await split_states(self._db)  # an older database's, once
            found = await self._db.meta.find_one({"_id": CHECKPOINT_ID})
            since = found["pos"] if found else None
            await mark_seq_order(self._db, since)  # before this release writes anything
            if since is None:
                # A database written before summaries were deferred had them written
                # inline: everything stored so far is summarised.
                top = await self._db.messages.find_one({}, sort=[("pos", DESCENDING)],
                                                       projection={"pos": 1})
                await self._db.meta.update_one({"_id": CHECKPOINT_ID},
                                               {"$max": {"pos": top["pos"] if top else 0}},
                                               upsert=True)
            else:
                async for d in self._db.messages.find({"pos": {"$gt": since}}):
                    stored.append(d)
            if generation != self._generation:
                return
            # No await from the check to here: all added, or none.
            for d in stored:
                self.add(message_of(d), d.get("moved", False))
            if stored:
                log.info("re-summarising %d conversations after a restart",
                         len(self._buffer.last))
            self._recovered = True
        if self._buffer:
            await self.flush()
