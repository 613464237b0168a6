"""The chat store's collections with a read (after or before its states are read), a
summary write, a receipt's mark (or a run's marks), the newest event's position, a read of
the writer fence's token, a fenced transaction's check of it, a raise's barrier, a batch's
sort-out (its look-up or take-back) or the answer of a committed receipt or change (or of an
erasure's second phase's last write) held, or a summary write, a run of receipts' marks or
events, or a token read failed, at a test's word, and the receipts' store requests counted:
passed to MongoChatStore as its `db`, as production passes the plain ones. And a clock the
summary flush reads, moved by hand."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from pymongo.errors import AutoReconnect, BulkWriteError

from nirvana.storage.mongo.codec import RECEIPT_TYPES
from nirvana.storage.mongo.collections import ChatCollections
from nirvana.storage.mongo.fence import BARRIER, TOKEN
from nirvana.storage.mongo.marks import RUN_COMMENT
from tests.support.delegating import Delegating


class SummaryClock:
    """Monotonic seconds that stand still until a test moves them (`Summaries` `clock`)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class SteeredCollections(ChatCollections):
    def __init__(self) -> None:
        # While set: a read of conversations by id waits for `release`, after the read of
        # their states by id has answered (`states_read`).
        self.hold = False
        self.states_read = asyncio.Event()
        self.release = asyncio.Event()
        # While set: a read of states by id waits for `state_read_release` before it is
        # sent, once reached (`state_read_held`): a conversation read caught before it reads.
        self.hold_state_reads = False
        self.state_read_held = asyncio.Event()
        self.state_read_release = asyncio.Event()
        self.fail_state_writes = False  # while set: every write of states fails
        # While set: a write of states waits for `write_release`, once it has started
        # (`write_started`): a flush caught in the middle of its commit.
        self.hold_state_writes = False
        self.write_started = asyncio.Event()
        self.write_release = asyncio.Event()
        # With it, `deaf_to_cancel`: a cancel of the held write is noted (`write_cancelled`)
        # and raised only once released, as pymongo inside a transaction may be slow to end.
        self.deaf_to_cancel = False
        self.write_cancelled = asyncio.Event()
        # While set: a receipt's mark write (an update by `$max`) is answered only once
        # `mark_release` is set, after it landed (`mark_landed`).
        self.hold_marks = False
        self.mark_landed = asyncio.Event()
        self.mark_release = asyncio.Event()
        # "before": a run of receipts' marks (a bulk write outside any transaction) fails
        # unsent; "after": it lands, and its answer fails. "events": a run's events land,
        # and the answer of their insert fails; "partial": the first half of them land,
        # and the insert fails with a write error that is not the fence's.
        self.fail_receipts: str | None = None
        # The requests a receipt sends, by "collection.method": reads of states, mark
        # writes, event inserts.
        self.receipt_requests: Counter[str] = Counter()
        # The receipt documents of each event insert tried, as sent (stamped), refused or not.
        self.receipt_inserts: list[list[dict[str, Any]]] = []
        # While set: a read of the newest event's position (positions.py `load`) is run,
        # and its answer held until `pos_release` is set (`pos_read`: it was run).
        self.hold_pos_reads = False
        self.pos_read = asyncio.Event()
        self.pos_release = asyncio.Event()
        self.fail_token_reads = False  # while set: a read of the fence's token fails
        # Set to n: the n-th read of the fence's token from now waits for
        # `token_read_release` (`token_read_held`: it was reached) before it reads, or,
        # with `read_then_hold`, after it read (its answer, from before, comes late).
        self.hold_token_read = 0
        self.read_then_hold = False
        self.token_read_held = asyncio.Event()
        self.token_read_release = asyncio.Event()
        # While set: the next fenced transaction's check (fence.py `_check`, its update of
        # the token) waits for `check_release` before it is sent, once reached
        # (`check_held`): a write that holds the fence's turn, its check not yet run.
        self.hold_check = False
        self.check_held = asyncio.Event()
        self.check_release = asyncio.Event()
        # While set: a raise of the fence's barrier delete on messages (fence.py
        # `raise_to`, past its collMods) waits for `barrier_release` (`barrier_held`).
        self.hold_barrier = False
        self.barrier_held = asyncio.Event()
        self.barrier_release = asyncio.Event()
        # "read": the writer's look-up of messages by `_id` (sends.py `_stored_already`),
        # or "take-back": its delete of messages (`_take_back`), waits for
        # `sort_out_release` (`sort_out_held`) before it is sent.
        self.hold_sort_out: str | None = None
        self.sort_out_held = asyncio.Event()
        self.sort_out_release = asyncio.Event()
        # "receipt": a receipt's event insert, or "change": a read of a conversation's
        # last message from its state (changes.py `_last_message_now`, once a change
        # committed), is run, and its answer held until `committed_release` is set
        # (`committed_held`): work that committed, paused after its last read or write.
        # "erasure": an erasure's second phase's last write (its `update_many` of the
        # states it names, erasure.py `tail`), likewise, inside its open transaction: a
        # takeover's raise of the fence would wait for it, so only let it go from there.
        self.hold_committed: str | None = None
        self.committed_held = asyncio.Event()
        self.committed_release = asyncio.Event()

    async def held_committed(self, kind: str) -> None:
        if self.hold_committed == kind:
            self.committed_held.set()
            await self.committed_release.wait()

    async def held_state_read(self) -> None:
        if self.hold_state_reads:
            self.state_read_held.set()
            await self.state_read_release.wait()

    async def held_write(self) -> None:
        self.write_started.set()
        cancelled = False
        while not self.write_release.is_set():
            try:
                await self.write_release.wait()
            except asyncio.CancelledError:
                if not self.deaf_to_cancel:
                    raise
                cancelled = True
                self.write_cancelled.set()
        if cancelled:
            raise asyncio.CancelledError

    @property
    def conversations(self) -> Any:
        return _Conversations(super().conversations, self)

    @property
    def states(self) -> Any:
        return _States(super().states, self)

    @property
    def events(self) -> Any:
        return _Events(super().events, self)

    @property
    def meta(self) -> Any:
        return _Meta(super().meta, self)

    @property
    def messages(self) -> Any:
        return _Messages(super().messages, self)


class _Conversations(Delegating[SteeredCollections]):
    def find(self, query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        cursor = self._inner.find(query, *args, **kwargs)
        if self._steer.hold and "_id" in query:
            return _After(cursor, self._steer.release)
        return cursor


class _States(Delegating[SteeredCollections]):
    def find(self, query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        self._steer.receipt_requests["states.find"] += 1
        cursor = self._inner.find(query, *args, **kwargs)
        if self._steer.hold and "_id" in query:
            return _Then(cursor, self._steer.states_read)
        if self._steer.hold_state_reads and "_id" in query:
            self._steer.state_read_held.set()
            return _After(cursor, self._steer.state_read_release)
        return cursor

    async def bulk_write(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("comment") == RUN_COMMENT:  # a run of receipts' marks
            return await self._marks(*args, **kwargs)
        if self._steer.fail_state_writes:
            raise AutoReconnect("states write failed (test)")
        if self._steer.hold_state_writes:
            await self._steer.held_write()
        return await self._inner.bulk_write(*args, **kwargs)

    async def _marks(self, *args: Any, **kwargs: Any) -> Any:
        self._steer.receipt_requests["states.bulk_write"] += 1
        if self._steer.fail_receipts == "before":
            raise AutoReconnect("marks write failed (test)")
        result = await self._inner.bulk_write(*args, **kwargs)
        if self._steer.fail_receipts == "after":
            raise AutoReconnect("marks write's answer lost (test)")
        await self._held_mark()
        return result

    async def _held_mark(self) -> None:
        if self._steer.hold_marks:
            self._steer.mark_landed.set()
            await self._steer.mark_release.wait()

    async def find_one(self, query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if "_id" in query:
            await self._steer.held_state_read()
        found = await self._inner.find_one(query, *args, **kwargs)
        projection = args[0] if args else kwargs.get("projection")
        if projection and "last_message" in projection:
            await self._steer.held_committed("change")
        return found

    async def update_many(self, query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        result = await self._inner.update_many(query, *args, **kwargs)
        if "_id" in query:  # an erasure's first phase writes every state: not restricted
            await self._steer.held_committed("erasure")
        return result

    async def update_one(self, query: dict[str, Any], update: dict[str, Any], *args: Any,
                         **kwargs: Any) -> Any:
        result = await self._inner.update_one(query, update, *args, **kwargs)
        if "$max" in update:
            self._steer.receipt_requests["states.update_one"] += 1
            await self._held_mark()
        return result


class _Events(Delegating[SteeredCollections]):
    async def insert_one(self, doc: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        self._tried([doc])
        result = await self._inner.insert_one(doc, *args, **kwargs)
        if doc.get("type") in RECEIPT_TYPES:
            self._steer.receipt_requests["events.insert_one"] += 1
            await self._steer.held_committed("receipt")
        return result

    async def insert_many(self, docs: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        self._tried(docs)
        receipts = any(d.get("type") in RECEIPT_TYPES for d in docs)
        if receipts and self._steer.fail_receipts == "partial":
            self._steer.receipt_requests["events.insert_many"] += 1
            landed = len(docs) // 2
            await self._inner.insert_many(docs[:landed], *args, **kwargs)
            raise BulkWriteError({"writeErrors": [
                {"index": i, "code": 50, "errmsg": "operation exceeded time limit (test)"}
                for i in range(landed, len(docs))], "nInserted": landed})
        result = await self._inner.insert_many(docs, *args, **kwargs)
        if receipts:
            self._steer.receipt_requests["events.insert_many"] += 1
            if self._steer.fail_receipts == "events":
                raise AutoReconnect("receipt events' answer lost (test)")
            await self._steer.held_committed("receipt")
        return result

    def _tried(self, docs: list[dict[str, Any]]) -> None:
        tried = [d for d in docs if d.get("type") in RECEIPT_TYPES]
        if tried:
            self._steer.receipt_inserts.append(tried)

    async def find_one(self, *args: Any, **kwargs: Any) -> Any:
        found = await self._inner.find_one(*args, **kwargs)
        if self._steer.hold_pos_reads and "sort" in kwargs:
            self._steer.pos_read.set()
            await self._steer.pos_release.wait()
        return found


class _Meta(Delegating[SteeredCollections]):
    def with_options(self, *args: Any, **kwargs: Any) -> Any:
        return _Meta(self._inner.with_options(*args, **kwargs), self._steer)

    async def find_one(self, query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if query.get("_id") == TOKEN:
            if self._steer.fail_token_reads:
                raise AutoReconnect("fence token read failed (test)")
            self._steer.hold_token_read -= 1
            if self._steer.hold_token_read == 0:
                found = None
                if self._steer.read_then_hold:
                    found = await self._inner.find_one(query, *args, **kwargs)
                self._steer.token_read_held.set()
                await self._steer.token_read_release.wait()
                if self._steer.read_then_hold:
                    return found
        return await self._inner.find_one(query, *args, **kwargs)

    async def update_one(self, query: dict[str, Any], *args: Any, session: Any = None,
                         **kwargs: Any) -> Any:
        # A raise writes the token with no session: only a transaction's check is held.
        if self._steer.hold_check and session is not None and query.get("_id") == TOKEN:
            self._steer.hold_check = False
            self._steer.check_held.set()
            await self._steer.check_release.wait()
        return await self._inner.update_one(query, *args, session=session, **kwargs)


class _Messages(Delegating[SteeredCollections]):
    def find(self, query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        cursor = self._inner.find(query, *args, **kwargs)
        by_ids = isinstance(query.get("_id"), dict) and "$in" in query["_id"]
        if self._steer.hold_sort_out == "read" and by_ids:
            self._steer.sort_out_held.set()
            return _After(cursor, self._steer.sort_out_release)
        return cursor

    async def delete_many(self, *args: Any, **kwargs: Any) -> Any:
        if self._steer.hold_sort_out == "take-back":
            self._steer.sort_out_held.set()
            await self._steer.sort_out_release.wait()
        return await self._inner.delete_many(*args, **kwargs)

    async def delete_one(self, query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if self._steer.hold_barrier and query == {"_id": BARRIER}:
            self._steer.barrier_held.set()
            await self._steer.barrier_release.wait()
        return await self._inner.delete_one(query, *args, **kwargs)


class _After:
    """A cursor that yields nothing until `event` is set."""

    def __init__(self, cursor: Any, event: asyncio.Event) -> None:
        self._cursor, self._event = cursor, event

    async def __aiter__(self) -> Any:
        await self._event.wait()
        async for d in self._cursor:
            yield d


class _Then:
    """A cursor that sets `event` once it has yielded everything."""

    def __init__(self, cursor: Any, event: asyncio.Event) -> None:
        self._cursor, self._event = cursor, event

    async def __aiter__(self) -> Any:
        async for d in self._cursor:
            yield d
        self._event.set()
