"""The chat writer: one task that commits every durable chat write, in batches.

It drains the queue of pending writes (sends, receipts, changes), gives each message the
next seq of its conversation and each event the next stream position, writes all messages
of the batch with one unordered `insert_many` (sends.py), and only then resolves the
callers' futures, in order. Why one writer:

- throughput: the embedded MongoDB-wire server does far more documents a second in batches
  than in single inserts, so under load many sends share one round trip;
- ordering: seqs and positions are allocated and committed by one task, so a client that has
  seen position P has seen every event below P, and resume after P misses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Any

from ...domain.chat.entities import Receipt, ReceiptKind
from ...domain.errors import UnavailableError
from ...metrics import NO_WRITER_OBSERVER, ChatWriterObserver
from ...tasks import cancel_and_wait
from .codec import mark_field, receipt_doc
from .collections import ChatCollections
from .positions import StreamPositions
from .sends import InsertMessages, SendCommitter
from .summaries import Summaries
from .work_items import Mark, Op, Send, WorkItem, consume, fail, resolve

log = logging.getLogger("nirvana.chat.store")


class ChatWriter:
    def __init__(self, db: ChatCollections, positions: StreamPositions, summaries: Summaries,
                 insert: InsertMessages, *, max_batch: int, commit_spacing: float,
                 timeout: float, observer: ChatWriterObserver = NO_WRITER_OBSERVER) -> None:
        self._db = db
        self._observer = observer
        self._positions = positions
        self._summaries = summaries
        self._sends = SendCommitter(db, positions, summaries, insert, self._requeue)
        self._max_batch = max_batch
        # Group commit with a delay, under load only: a commit starts at least this long
        # after the one before it started, and what arrives meanwhile shares it. An idle
        # writer commits at once (its last commit is long past), so a lone send waits for
        # nothing. Why this value: docs/performance.md ("Commit spacing").
        self.commit_spacing = commit_spacing
        self._last_commit = -commit_spacing
        self.timeout = timeout
        self._pending: list[WorkItem] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # for benchmarks: how many commits served the sends

    def enqueue(self, item: WorkItem) -> None:
        self._pending.append(item)
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="chat-writer")

    def _requeue(self, sends: list[Send]) -> None:
        self._pending[:0] = sends

    async def wait(self, future: asyncio.Future[Any]) -> Any:
        """The result of a queued receipt or change. Bounded: a store that hangs yields an
        error, never a hang."""
        try:
            async with asyncio.timeout(self.timeout * 2):
                return await asyncio.shield(future)
        except TimeoutError:
            # The writer still resolves the future later; nobody awaits it any more.
            future.add_done_callback(consume)
            raise UnavailableError("The message store did not answer in time; retry.",
                                   code="store_timeout") from None

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        await self._summaries.stop()
        for item in self._pending:
            item.refuse(UnavailableError("The server is stopping."))

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
                    self._observer.batch_committed(
                        len(batch), len(self._pending), time.monotonic() - self._last_commit)
                except Exception as exc:
                    self._observer.batch_failed(len(batch), len(self._pending))
                    log.warning("chat write batch failed: %s", type(exc).__name__)
                    self._sends.forget_seqs()  # re-read from the store: never reuse a seq
                    self._sends.doubt([i for i in batch
                                       if isinstance(i, Send) and not i.settled])
                    for item in batch:
                        item.refuse(UnavailableError("The message store is unavailable; "
                                                     "retry with the same client_id."))
                self._summaries.flush_soon()

    async def _commit(self, batch: list[WorkItem]) -> None:
        self.batches += 1
        await self._summaries.recover()
        if not self._positions.loaded:
            await self._positions.load()
        sends = [i for i in batch if isinstance(i, Send)]
        if sends:
            await self._sends.commit(sends)
        for item in batch:
            if isinstance(item, Mark):
                await self._commit_mark(item)
            elif isinstance(item, Op):
                await self._commit_op(item)

    async def _commit_mark(self, mark: Mark) -> None:
        try:
            field_name = mark_field(
                mark.user_id, "read" if mark.kind is ReceiptKind.READ else "delivered")
            raise_to = {field_name: mark.seq}
            if mark.kind is ReceiptKind.READ:  # read implies delivered
                raise_to[mark_field(mark.user_id, "delivered")] = mark.seq
            # Conditional, so a lower or equal mark changes nothing and emits no event.
            # `$not $gte` rather than `$lt`: it also matches a mark not stored yet.
            updated = await self._db.states.update_one(
                {"_id": mark.conversation_id, field_name: {"$not": {"$gte": mark.seq}}},
                {"$max": raise_to})
            if updated.modified_count == 0:
                resolve(mark.future, None)
                return
            receipt = Receipt(self._positions.allocate(), mark.conversation_id, mark.user_id,
                              mark.kind, mark.seq, mark.audience)
            await self._db.events.insert_one(receipt_doc(receipt, datetime.now().astimezone()))
            self._positions.stored(receipt.pos)
            resolve(mark.future, receipt)
        except Exception as exc:
            fail(mark.future, UnavailableError("The receipt could not be stored."))
            log.warning("receipt write failed: %s", exc)

    async def _commit_op(self, op: Op) -> None:
        try:
            # A change reads the conversation and writes parts of it (members, last
            # message): the deferred summaries must be in it first, or the change would
            # write back stale read marks or a pre-edit last message. Nothing can add to
            # the buffer meanwhile: only this (writer) task does.
            await self._summaries.flush()
            taken: list[int] = []

            def next_pos() -> int:
                taken.append(self._positions.allocate())
                return taken[-1]

            result = await op.run(next_pos)
            if taken:  # a change that returns has written every event it took a position for
                self._positions.stored(taken[-1])
            resolve(op.future, result)
        except Exception as exc:  # the caller gets it (a domain error or a store error)
            fail(op.future, exc)
