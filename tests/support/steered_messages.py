"""The chat collections with the messages collection steered by a test, passed to
MongoChatStore as its `db`: a take-back's delete that fails with no answer (kept, to be run
late), a read of messages by `_id` or a delete that the store answers with an error (run
not at all), a read by `_id` that fails with an error not the store's, and a read of a
conversation's highest seq that gets no answer, or is held (a batch caught being numbered),
a read by `_id` whose answer is held (a retry's look-up caught across a lead), a take-back's
delete whose answer is held (caught across a lead likewise), and a lead's barrier delete
that is held (a lead caught after it raised the fence)."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Callable

from pymongo.errors import AutoReconnect, OperationFailure

from nirvana.storage.mongo.collections import ChatCollections
from tests.support.delegating import Delegating


def _never() -> bool:
    return False


class SteeredMessages(ChatCollections):
    def __init__(self, fail_deletes: Callable[[], bool] = _never,
                 refuse_deletes: Callable[[], bool] = _never,
                 refuse_reads: Callable[[], bool] = _never,
                 break_reads: Callable[[], bool] = _never,
                 fail_seq_reads: Callable[[], bool] = _never) -> None:
        # Asked at each delete of messages (a take-back): True fails it, with no answer;
        # its filter goes to `unanswered_deletes` (the store may still run it: `run_late`).
        self.fail_deletes = fail_deletes
        self.unanswered_deletes: list[dict[str, Any]] = []
        # Asked at each delete of messages, and at each read of messages by a list of
        # `_id`s (the writer's look-up of a retry's stored message): True answers it with
        # an error (OperationFailure), and the store runs none of it.
        self.refuse_deletes = refuse_deletes
        self.refuse_reads = refuse_reads
        # Asked at each read of messages by a list of `_id`s: True fails it with an error
        # that is not the store's (a document this release cannot read, a bug).
        self.break_reads = break_reads
        # Asked at each read of a conversation's highest seq (the writer numbering it from
        # the store): True fails it with no answer.
        self.fail_seq_reads = fail_seq_reads
        # While set: a read of a conversation's highest seq waits for `seq_release`, once
        # it has started (`seq_read`).
        self.hold_seq_reads = False
        self.seq_read = asyncio.Event()
        self.seq_release = asyncio.Event()
        # While set: a read of messages by a list of `_id`s is run, and its answer held
        # until `id_release` is set (`id_read`: it was run).
        self.hold_id_reads = False
        self.id_read = asyncio.Event()
        self.id_release = asyncio.Event()
        # While set: a delete of messages (a take-back) is run, and its answer held until
        # `delete_release` is set (`delete_ran`: it was run).
        self.hold_deletes = False
        self.delete_ran = asyncio.Event()
        self.delete_release = asyncio.Event()
        # While set: a lead's barrier delete (fence.py `raise_to`, once the fence stamps
        # the new epoch) waits for `barrier_release`, once it has started (`barrier`).
        self.hold_barrier = False
        self.barrier = asyncio.Event()
        self.barrier_release = asyncio.Event()

    async def run_late(self) -> None:
        """The store gets to the deletes it gave no answer to now."""
        deletes, self.unanswered_deletes = self.unanswered_deletes, []
        for query in deletes:
            await super().messages.delete_many(query)

    @property
    def messages(self) -> Any:
        return _Messages(super().messages, self)


def _refused() -> OperationFailure:
    return OperationFailure("the store refused it (test)", code=96)  # OperationFailed


async def _failing_cursor(error: Exception) -> AsyncIterator[dict[str, Any]]:
    raise error
    yield {}  # an async generator: the error comes at the first read, as a cursor's does


class _Messages(Delegating[SteeredMessages]):
    def find(self, query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        by_ids = isinstance(query.get("_id"), dict) and "$in" in query["_id"]
        if by_ids and self._steer.refuse_reads():
            return _failing_cursor(_refused())
        if by_ids and self._steer.break_reads():
            return _failing_cursor(ValueError("'???' is not a valid MessageKind (test)"))
        if by_ids and self._steer.hold_id_reads:
            return self._held(self._inner.find(query, *args, **kwargs))
        return self._inner.find(query, *args, **kwargs)

    async def _held(self, cursor: Any) -> AsyncIterator[dict[str, Any]]:
        found = [d async for d in cursor]
        self._steer.id_read.set()
        await self._steer.id_release.wait()
        for d in found:
            yield d

    async def find_one(self, query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        by_seq = isinstance(query.get("seq"), dict) and "$gte" in query["seq"]
        if by_seq and self._steer.fail_seq_reads():
            raise AutoReconnect("the store went away (test)")
        if by_seq and self._steer.hold_seq_reads:
            self._steer.seq_read.set()
            await self._steer.seq_release.wait()
        return await self._inner.find_one(query, *args, **kwargs)

    async def delete_many(self, query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if self._steer.refuse_deletes():
            raise _refused()
        if self._steer.fail_deletes():
            self._steer.unanswered_deletes.append(query)
            raise AutoReconnect("the store went away (test)")
        deleted = await self._inner.delete_many(query, *args, **kwargs)
        if self._steer.hold_deletes:
            self._steer.delete_ran.set()
            await self._steer.delete_release.wait()
        return deleted

    async def delete_one(self, query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        # The writer deletes messages with delete_many: a delete_one is a lead's barrier.
        if self._steer.hold_barrier:
            self._steer.barrier.set()
            await self._steer.barrier_release.wait()
        return await self._inner.delete_one(query, *args, **kwargs)
