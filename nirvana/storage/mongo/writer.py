"""The chat writer: one task that commits every durable chat write, in batches.

It drains the queue of pending writes (sends, receipts, changes), gives each message the
next seq of its conversation and each event the next stream position, writes all messages
of the batch with one unordered insert (sends.py), and only then resolves the
callers' futures, in order (a big batch over several turns of the event loop). Why one writer:

- throughput: the embedded MongoDB-wire server does far more documents a second in batches
  than in single inserts, so under load many sends share one round trip;
- ordering: seqs and positions are allocated and committed by one task, so a client that has
  seen position P has seen every event below P, and resume after P misses nothing.

Commits adapt to the load: an idle writer commits at once, and what arrives during a commit
rides the next; only after a full batch (the store is what limits) is the next held a
little, to fill it, and after a middling one a little less (back-to-back commits of a few
writes each spend the core the store shares on their fixed costs; `_hold`). A writer woken
from idle by receipts, after a small commit, holds them a few ms for the rest of their
message's (receipt_hold.py). Up to `max_inflight` batches of sends are written at once, each
numbered when it is taken, each answered only after the one before it (so deliveries keep
position order); a batch never takes a conversation (or retry key) that one in flight holds,
so a batch that fails leaves no gap in another's seqs. Receipts, changes, and every batch
while a request is asked again (an insert after no answer, a batch's follow-up after an
error; sends.py `_until_answered`) run alone, with nothing in flight (alone_commits.py):
nothing is committed past a request the store has not carried out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import nullcontext
from typing import Any, Callable

from pymongo.errors import PyMongoError

from ...domain.chat.ports import Admission
from ...domain.errors import RETRY_AT_ONCE_SECONDS, UnavailableError
from ...metrics import NO_WRITER_OBSERVER, ChatWriterObserver
from ...tasks import cancel_and_wait, stop_if_cancelled
from .alone_commits import AloneCommits
from .collections import ChatCollections
from .fence import FencedOutError, WriterFence
from .head_members import HeadMembers
from .landing import until_landed
from .positions import StreamPositions
from .receipt_hold import RECEIPT_HOLD, hold
from .refused import RefusedSenders
from .message_inserts import InsertMessages
from .sends import ASK_PAUSES, DeliveryPass, SendCommitter
from .summaries import Summaries
from .tenures import TenureFence, Tenures, earlier
from .work_items import InFlight, Mark, Op, Send, WorkItem, take_sends

log = logging.getLogger("nirvana.chat.store")


MAX_WAITING = 10_000  # work items queued while an insert is asked again (`enqueue`)
# Store timeouts an erased sender stays refused (refused.py), 150 s by default: a send that
# passed its last check is queued at once, and answered within two (`Send.expire`), though
# a stalled store may keep it queued longer (docs/cluster-chat.md lists that gap).
REFUSED_FOR = 30


class ChatWriter:
    def __init__(self, db: ChatCollections, positions: StreamPositions, summaries: Summaries,
                 insert: InsertMessages, *, fence: WriterFence, max_batch: int,
                 commit_spacing: float, ask_pauses: tuple[float, float] = ASK_PAUSES,
                 timeout: float, spacing_from: int = 1, short_spacing: float = 0.0,
                 short_from: int = 1, max_inflight: int = 1,
                 observer: ChatWriterObserver = NO_WRITER_OBSERVER,
                 delivery_pass: DeliveryPass = nullcontext,
                 receipt_hold: float = RECEIPT_HOLD) -> None:
        self._db = db
        self._observer = observer
        self._positions = positions
        self._summaries = summaries
        self._fence = fence
        self._refused_epoch: int | None = None  # the epoch whose refusal was logged last
        self._sends = SendCommitter(db, positions, summaries, insert, self._requeue, fence,
                                    delivery_pass, ask_pauses)
        self._alone = AloneCommits(db, positions, summaries, self._sends, fence, self._deposed,
                                   delivery_pass)
        self._max_batch = max_batch
        # Adaptive group commit: a commit while the store is idle goes at once, and what
        # arrives during a commit rides the next one. Only once a batch carried
        # `spacing_from` writes or more (the store is what limits) is the next held until
        # `commit_spacing` after it started, so heavy load gets fuller batches and light
        # load pays no toll. After one of `short_from` writes or more, `short_spacing`:
        # back-to-back commits of a few writes each spent much of the core the store
        # shares on their fixed costs. `max_inflight` lets that many batches of sends to
        # different conversations be written at once. Why the defaults:
        # docs/performance.md ("Adaptive group commit", "Where the store's CPU goes at
        # 10,000 deliveries/s").
        self.commit_spacing = commit_spacing
        self.spacing_from = spacing_from
        self.short_spacing = short_spacing
        self.short_from = short_from
        self.max_inflight = max(1, max_inflight)
        self.receipt_hold = receipt_hold  # receipt_hold.py
        self._last_commit = -commit_spacing
        self._last_size = 0  # writes in the batch taken last
        self.timeout = timeout
        self._pending: list[WorkItem] = []
        # While a request is asked again nothing is committed, and each sender retries after
        # its store_timeout: past this many waiting, new work is refused at once rather than
        # held in memory for as long as the store stays silent.
        self.max_waiting = MAX_WAITING
        self._inflight: list[InFlight] = []
        # The receipts and changes (and sends) being committed alone, refused at close if
        # that cuts them off: their callers, and their `on_done` once they left, get an end.
        self._alone_batch: list[WorkItem] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._settling: set[asyncio.Task[None]] = set()
        self.batches = 0  # for benchmarks: how many commits served the sends
        # Fencing (several instances): False once this process may no longer be the writer
        # (its chat-writer lease lapsed, nirvana/chat_writer_role.py); checked before every
        # write, so a writer that was paused past its lease commits nothing on waking.
        self.may_commit: Callable[[], bool] = lambda: True
        # Each `lead()` begins a tenure; work of an earlier one is never committed.
        self._tenures = Tenures()
        # The store refused a write stamped with this tenure's epoch: another instance
        # raised the fence. The lease role reads it to give the lease back (its renewals
        # may still succeed, e.g. with two deployments on one chat database).
        self.stepped_down = False
        # Senders whose chat text was erased: a send of theirs still queued is refused.
        self._refused = RefusedSenders(kept=REFUSED_FOR * timeout)
        self._closed = False

    def stalled_for(self) -> float:
        """Seconds the writer has waited for the store to answer a request it asks again
        (nothing else is committed meanwhile); 0 while the store answers."""
        return self._sends.asking_for()

    def refuse_sender(self, user_id: int) -> None:
        """Refuse every send of `user_id` that a batch takes from now (its account was
        deleted; the erasure calls this inside the writer, before its last writes)."""
        self._refused.prune()
        self._refused.add(user_id)

    def admission(self) -> Admission:
        """The tenure work checked from now is admitted under (`enqueue`)."""
        return self._tenures.now

    def enqueue(self, item: WorkItem, admitted: Admission | None = None) -> None:
        """Queue `item`; refused if admitted (its checks began) under an earlier tenure."""
        if admitted is not None and admitted != self._tenures.now:
            item.refuse(earlier())
            return
        if self._closed:
            # Work queued after `close` (a background erasure whose cancel pymongo
            # swallowed, say) would start a writer task nobody stops.
            item.refuse(UnavailableError("The server is stopping.",
                                         retry_after=RETRY_AT_ONCE_SECONDS))
            return
        if self._sends.asking and len(self._pending) >= self.max_waiting:
            item.refuse(UnavailableError("The message store is not answering; retry "
                                         "with the same client_id."))
            return
        self._tenures.stamp(item)
        self._pending.append(item)
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="chat-writer")

    def forget_seqs(self) -> None:
        """Re-read seqs from the store before the next batch: another process wrote."""
        self._sends.forget_seqs()

    @property
    def members(self) -> HeadMembers:
        """The members at the head where a change committed (head_members.py)."""
        return self._sends.members

    def hint_last_seq(self, conversation_id: str, stored: int) -> None:
        """A conversation read found `stored` as its state's last_seq (sends.py)."""
        self._sends.hint_last_seq(conversation_id, stored)

    def lead(self, may_commit: Callable[[], bool]) -> None:
        """Commit from now while `may_commit()`, as a writer that starts over: a new tenure,
        in which what was queued before is refused (tenures.py), seqs are read again, and
        what an earlier tenure withdrew is not this one's (sends.py)."""
        self._tenures.begin()
        self.may_commit = may_commit
        self.stepped_down = False
        self._refused.prune()
        self._sends.forget_seqs()
        self._sends.forget_withdrawn()
        self._sends.members.forget()  # another writer may have changed members since
        self._wake.set()  # a receipt hold ends: what it holds is an earlier tenure's

    def _requeue(self, sends: list[Send]) -> None:
        # Refused by tenure when taken again, as is all that is queued (tenures.py).
        self._pending[:0] = sends

    async def wait(self, item: Mark | Op) -> Any:
        """The result of a queued receipt or change. Bounded: a store that hangs yields an
        error, never a hang. A caller that stops waiting (that error, or cancelled: an
        HTTP route's deadline passes first) leaves how it ends to the item's `on_done`."""
        try:
            async with asyncio.timeout(self.timeout * 2):
                return await asyncio.shield(item.future)
        except TimeoutError:
            item.leave()
            raise UnavailableError("The message store did not answer in time; retry.",
                                   code="store_timeout") from None
        except asyncio.CancelledError:
            item.leave()
            raise

    async def stop_taking(self) -> None:
        """Take nothing more, and let the commits begun land (landing.py). At a stop this
        comes before the role steps down: they commit under this writer's own lease check,
        a batch with a retry or a taken seq sorted out as at any other time."""
        if not self._closed:
            self._closed = True
            self._wake.set()  # `_run` ends once the commit it is in settles
            await until_landed(lambda: (self._task, *self._settling),
                               lambda: self._sends.asking, self.timeout)

    async def close(self) -> None:
        """`stop_taking` (if not done yet), then refuse what is left."""
        await self.stop_taking()
        # Taken first: a batch written by the writer task itself leaves `_inflight` as the
        # cancellation ends it, and its senders must still be told.
        flying = [s for b in self._inflight for s in b.sends]
        await cancel_and_wait(self._task)
        taken = {id(s) for s in flying}
        flying += [s for b in self._inflight for s in b.sends if id(s) not in taken]
        for task in list(self._settling):
            await cancel_and_wait(task)
        await self._summaries.stop()
        stopping = UnavailableError("The server is stopping.",
                                    retry_after=RETRY_AT_ONCE_SECONDS)
        # What was answered already stays so: refusing an answered item does nothing.
        for item in [*flying, *self._alone_batch, *self._pending]:
            item.refuse(stopping)

    async def _run(self) -> None:
        idle = False  # woke from an empty queue: what it holds arrived since the last commit
        while True:
            # A cancel pymongo hid inside an operation (a change's, an erasure's at stop):
            # honoured here, or close() would wait forever.
            stop_if_cancelled()
            if self._closed:  # nothing more is taken: close() refuses what waits
                return
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
                idle = True
                continue
            if (idle and isinstance(self._pending[0], Mark) and self._hold() == 0
                    and not self._sends.asking and not self._inflight):
                # Marks first, the first of a message's receipts: the rest of them are a
                # few ms away (receipt_hold.py). Anything else queued ends the hold. Not
                # after a commit that spaces the next anyway (`_hold`): receipts gather
                # in the queue meanwhile.
                tenure = self._tenures.now
                await hold(self._pending, self._wake, self._max_batch,
                           lambda: (self.may_commit() and self._tenures.now == tenure
                                    and not self._closed),
                           self.receipt_hold)
            idle = False
            if len(self._pending) < self._max_batch and (spacing := self._hold()) > 0:
                wait = self._last_commit + spacing - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            if self._closed:
                return
            window = self._pending[: self._max_batch]
            if any(not isinstance(i, Send) for i in window) or self._sends.asking:
                # Receipts and changes run alone, with no batch in flight: they take
                # positions outside the batches' order. While an insert is asked again,
                # nothing else may be committed: the next batch waits for it to settle.
                await self._drain()
                if self._closed:
                    return
                self._last_commit = time.monotonic()
                window = self._pending[: self._max_batch]  # the drain may have requeued
                del self._pending[: len(window)]
                self._last_size = len(window)
                self._alone_batch = self._refused.without(self._tenures.current(window))
                await self._commit_alone(self._alone_batch)
                self._alone_batch = []
                continue
            if len(self._inflight) >= self.max_inflight:
                await asyncio.wait([self._inflight[0].settled])
                continue
            taken = take_sends(self._pending, self._inflight, self._max_batch)
            batch = self._refused.without(self._tenures.current(taken))
            if not taken:  # every waiting send is for a conversation in flight
                self._wake.clear()
                await self._wake.wait()
                continue
            if not batch:
                continue
            self._last_commit = time.monotonic()
            self._last_size = len(batch)
            await self._launch(batch)

    def _hold(self) -> float:
        """How long after the last commit started the next one waits to fill (0: at once),
        by the writes that last batch carried."""
        if self._last_size >= self.spacing_from:
            return self.commit_spacing
        if self._last_size >= self.short_from:
            return min(self.short_spacing, self.commit_spacing)
        return 0.0

    async def _launch(self, batch: list[Send]) -> None:
        """Number the batch now (seqs and positions in queue order), write it (here, with
        one batch in flight; in a task of its own with more), and let it answer its senders
        only after the batch before it has."""
        fence = self._tenures.fence(lambda: self.may_commit(), self._fence)  # before any await
        generation = self._summaries.generation  # likewise (sends.py `settle`)
        self.batches += 1
        try:
            # Before `recover`, as an alone-commit's: a follower (its summaries forgotten) would
            # read stored texts back into its fresh buffer, which its reads apply.
            fence()
            await self._summaries.recover()
            if not self._positions.loaded:
                await self._positions.load()
            numbered = await self._sends.prepare(batch, fence)
        except Exception as exc:
            self._failed(batch, exc)
            return
        # In flight from here; the batch before it is the one numbered before it (only this
        # task launches batches).
        before = self._inflight[-1].settled if self._inflight else None
        loop = asyncio.get_running_loop()
        flight = InFlight(batch, frozenset(
            {s.draft.conversation_id for s in batch}
            | {s.key for s in batch}),
            loop.create_future(), loop.create_future())
        self._inflight.append(flight)
        if self.max_inflight == 1:
            # Nothing else may be written meanwhile: written here, by the writer task, not
            # handed to a task of its own (a turn of the loop on every send's way at light
            # load; docs/performance.md, "One send's way at light load").
            await self._write(flight, numbered, before, time.monotonic(), fence, generation)
            return
        task = loop.create_task(
            self._write(flight, numbered, before, time.monotonic(), fence, generation))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _write(self, flight: InFlight, numbered: list[Any],
                     before: asyncio.Future[None] | None, started: float,
                     fence: TenureFence, generation: int) -> None:
        try:
            try:
                failed = await self._sends.write(numbered, fence)
            finally:
                flight.written.set_result(None)
            if before is not None:  # answers go out in batch order: positions only grow
                await asyncio.wait([before])
            # Stored under the tenure it was taken in, maybe settled after a lead (a batch
            # before it was asked meanwhile): never answered under the later (settle).
            await self._sends.settle(numbered, failed, fence, generation)
            self._observer.batch_committed(len(flight.sends), len(self._pending),
                                           time.monotonic() - started)
        except Exception as exc:
            if before is not None:
                await asyncio.wait([before])
            self._failed(flight.sends, exc)
        finally:
            self._landed(flight)

    def _landed(self, flight: InFlight) -> None:
        if not flight.written.done():
            flight.written.set_result(None)
        flight.settled.set_result(None)
        self._inflight.remove(flight)
        self._summaries.flush_soon()
        self._wake.set()

    async def _drain(self) -> None:
        while self._inflight:
            await asyncio.wait([self._inflight[-1].settled])

    def _deposed(self, exc: Exception) -> bool:
        """Whether `exc` says this process may not write (FencedOutError): then nothing of
        the write is in doubt (the store refuses a fenced insert whole; on MongoDB a part
        that landed before the fence rose was loaded by the next writer). A refusal of an
        insert stamped with the epoch this process leads at now means a later writer
        raised the fence: it stops committing at once, and the role's next renewal makes
        it follow. A refusal stamped with an older epoch (answered late) leaves a later
        `lead()` alone. Logged once per refused epoch."""
        if not isinstance(exc, FencedOutError):
            return False
        if exc.stamped is not None and exc.stamped == self._fence.epoch:
            self.may_commit = lambda: False
            self.stepped_down = True
            if self._refused_epoch != exc.stamped:
                self._refused_epoch = exc.stamped
                log.warning("the store refused a chat write of this instance's (epoch %d): "
                            "another instance is the chat writer now", exc.stamped)
        return True

    def _failed(self, batch: list[Any], exc: Exception) -> None:
        self._observer.batch_failed(len(batch), len(self._pending))
        self._sends.forget_seqs()  # re-read from the store: never reuse a seq
        if self._deposed(exc):
            for item in batch:
                item.refuse(FencedOutError())
            return
        # Mostly an answer (the store refused the insert whole) or a failure before anything
        # was sent: nothing of the batch is stored. No answer is asked again, and so is a
        # store error after an answered insert (sends.py `_until_answered`); what still
        # reaches here after one is not the store's (a bug, a stored document this release
        # cannot read): refused, and logged whole, rather than asked forever.
        log.warning("chat write batch failed: %s", type(exc).__name__,
                    exc_info=not isinstance(exc, PyMongoError))
        for item in batch:
            item.refuse(UnavailableError("The message store is unavailable; "
                                         "retry with the same client_id."))

    async def _commit_alone(self, batch: list[WorkItem]) -> None:
        fence = self._tenures.fence(lambda: self.may_commit(), self._fence)  # before any await
        generation = self._summaries.generation  # likewise (sends.py `settle`)
        self.batches += 1
        started = time.monotonic()
        try:
            await self._alone.commit(batch, fence, generation)
            self._observer.batch_committed(len(batch), len(self._pending),
                                           time.monotonic() - started)
        except Exception as exc:
            self._failed(batch, exc)
        self._summaries.flush_soon()
