"""Many writes, one commit.

The embedded MongoDB-wire server commits each statement of a bulk write on its own, and,
run durable (`--sync-on-commit`), fsyncs each commit. Summary flushes and last_seen writes
are bulk writes of hundreds of updates, so they cost hundreds of fsyncs, and every other
write queued behind them; as one transaction they take half the time (docs/performance.md).
A server that refuses transactions (a standalone mongod, reached through MONGODB_URL) gets
the plain bulk write instead, which is what it did before.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

from pymongo.errors import OperationFailure

log = logging.getLogger("nirvana.storage")

_ILLEGAL_OPERATION = 20  # "Transaction numbers are only allowed on a replica set member"


class OneCommit:
    def __init__(self) -> None:
        self.supported: bool | None = None  # learned at the first write

    async def write(self, writes: Sequence[tuple[Any, list[Any]]]) -> None:
        """`bulk_write` each (collection, operations) pair, all in one transaction when the
        server has them. Atomic there: on an error nothing is written."""
        if self.supported is not False:
            client = writes[0][0].database.client
            try:
                async with client.start_session() as session:
                    async with await session.start_transaction():
                        for coll, ops in writes:
                            if ops:
                                await coll.bulk_write(ops, ordered=False, session=session)
                self.supported = True
                return
            except OperationFailure as exc:
                if self.supported or exc.code != _ILLEGAL_OPERATION:
                    raise
                log.info("the MongoDB server has no transactions: writing without them")
                self.supported = False
        for coll, ops in writes:
            if ops:
                await coll.bulk_write(ops, ordered=False)
