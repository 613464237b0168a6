"""OneCommit, and the writer fence's transactions, against a server without transactions
(a standalone mongod, which these tests cannot reach: the embedded server has transactions
and is covered by the integration tests of the presence and summary writes and of the
fence)."""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest
from pymongo.errors import OperationFailure

from nirvana.storage.mongo.fence import WriterFence
from nirvana.storage.mongo.one_commit import OneCommit


class StandaloneClient:
    def __init__(self) -> None:
        self.sessions = 0

    @asynccontextmanager
    async def start_session(self):
        self.sessions += 1
        yield self

    async def start_transaction(self):
        raise OperationFailure("Transaction numbers are only allowed on a replica set "
                               "member or mongos", code=20)


class Collection:
    def __init__(self, client) -> None:
        self.database = type("Db", (), {"client": client})()
        self.written: list[tuple[list, object]] = []

    async def bulk_write(self, ops, ordered=True, session=None):
        self.written.append((ops, session))


async def test_without_transactions_it_writes_plainly_and_stops_asking():
    client = StandaloneClient()
    coll, other = Collection(client), Collection(client)
    batch = OneCommit()
    await batch.write([(coll, ["a", "b"]), (other, [])])
    await batch.write([(coll, ["c"])])
    assert coll.written == [(["a", "b"], None), (["c"], None)] and other.written == []
    assert batch.supported is False and client.sessions == 1


async def test_other_failures_are_not_mistaken_for_missing_transactions():
    class Refusing(StandaloneClient):
        async def start_transaction(self):
            raise OperationFailure("not authorized", code=13)

    coll = Collection(Refusing())
    with pytest.raises(OperationFailure):
        await OneCommit().write([(coll, ["a"])])
    assert coll.written == []


class ChatDb:
    def __init__(self, client) -> None:
        self.meta = Collection(client)


@pytest.mark.parametrize("epoch", [3, None], ids=["fenced", "one process"])
async def test_fenced_writes_without_transactions_run_unfenced_and_stop_asking(epoch):
    """Several instances, or one process, on a standalone mongod: the writes go as before,
    one by one (with transactions, one process's run in one too: integration tests)."""
    client = StandaloneClient()
    fence = WriterFence()
    fence.epoch = epoch
    sessions = []

    async def work(session):
        sessions.append(session)
        return "written"
    assert await fence.writes(ChatDb(client), work) == "written"
    assert await fence.writes(ChatDb(client), work) == "written"
    assert sessions == [None, None] and client.sessions == 1
