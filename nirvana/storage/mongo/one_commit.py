"""Many writes, one commit.

The embedded MongoDB-wire server commits each statement of a bulk write on its own, and,
run durable (`--sync-on-commit`), fsyncs each commit. Summary flushes and last_seen writes
are bulk writes of hundreds of updates, so they cost hundreds of fsyncs, and every other
write queued behind them; as one transaction they take half the time (docs/performance.md).
A server that refuses transactions (a standalone mongod, reached through MONGODB_URL) gets
the plain bulk write instead, which is what it did before. `run` is the same for any
writes: the chat writer's fence runs its transactions through it (fence.py `writes`), and
tries again one the store aborted (why there and not pymongo's `with_transaction`:
docs/cluster-chat.md, "The fence the store enforces").
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Sequence, TypeVar

from pymongo.errors import OperationFailure

log = logging.getLogger("nirvana.storage")
T = TypeVar("T")

_ILLEGAL_OPERATION = 20  # "Transaction numbers are only allowed on a replica set member"


class OneCommit:
    def __init__(self) -> None:
        self.supported: bool | None = None  # learned at the first write

    async def write(self, writes: Sequence[tuple[Any, list[Any]]], session: Any = None
                    ) -> None:
        """`bulk_write` each (collection, operations) pair, all in one transaction when the
        server has them. Atomic there: on an error nothing is written. With `session`,
        in the transaction the caller has open on it."""
        async def bulk(session: Any) -> None:
            for coll, ops in writes:
                if ops:
                    await coll.bulk_write(ops, ordered=False, session=session)
        if session is not None:
            await bulk(session)
            return
        await self.run(writes[0][0].database.client, bulk)

    async def run(self, client: Any, work: Callable[[Any], Awaitable[T]]) -> T:
        """`work(session)` in one transaction when the server has them, else `work(None)`
        (its writes then commit one by one). Atomic there: on an error nothing is written.
        A server without transactions refuses the first statement, so `work` must not
        change anything outside the store before its first write."""
        if self.supported is not False:
            try:
                async with client.start_session() as session:
                    async with await session.start_transaction():
                        result = await work(session)
                self.supported = True
                return result
            except OperationFailure as exc:
                if self.supported or exc.code != _ILLEGAL_OPERATION:
                    raise
                log.info("the MongoDB server has no transactions: writing without them")
                self.supported = False
        return await work(None)
