"""The chat writer's own connection to the store (storage/mongo/wire.py), against the real
embedded store, through a TCP relay the test can stall or cut."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import AutoReconnect, BulkWriteError, NetworkTimeout

from nirvana.storage.mongo.message_inserts import insert_messages
from nirvana.storage.mongo.wire import WireInserts


class Relay:
    """Forwards connections to the store; `hold()` keeps the store's replies back,
    `cut()` drops every connection, `requests` counts what clients wrote and `connections`
    the connections they opened."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.held = asyncio.Event()
        self.held.set()
        self.requests = 0
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"mongodb://127.0.0.1:{port}/?directConnection=true"

    async def _serve(self, reader, writer) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers += [writer, up_writer]

        async def pipe(src, dst, replies: bool) -> None:
            try:
                while data := await src.read(65536):
                    if replies:
                        await self.held.wait()
                    else:
                        self.requests += 1
                    if dst.is_closing():  # cut meanwhile (uvloop raises on such a write)
                        break
                    dst.write(data)
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer, False), pipe(up_reader, writer, True))

    def hold(self) -> None:
        self.held.clear()

    def release(self) -> None:
        self.held.set()

    def cut(self) -> None:
        for w in self.writers:
            w.transport.abort()
        self.writers.clear()

    async def close(self) -> None:
        self.cut()
        assert self.server is not None
        self.server.close()


@pytest.fixture
async def relayed(stores, settings, request):
    """(inserts through the relay, the relay, the collection read directly); the inserts'
    timeout is 0.5 s unless the test passes another (indirect parametrize)."""
    _, mongo = stores
    relay = Relay(await mongo.address)
    client = AsyncMongoClient(await relay.start(), tz_aware=True,
                              serverSelectionTimeoutMS=5000)
    collection = client[settings.mongodb_db]["wire_inserts_test"]
    db = SimpleNamespace(messages=collection)
    inserts = WireInserts(db, insert_messages(db), timeout=getattr(request, "param", 0.5))
    yield inserts, relay, mongo[settings.mongodb_db]["wire_inserts_test"]
    inserts.close()
    await mongo[settings.mongodb_db]["wire_inserts_test"].drop()
    await relay.close()
    await client.close()


async def _wait_for_request(relay: Relay, seen: int) -> None:
    for _ in range(200):
        if relay.requests > seen:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the insert never reached the store")


async def test_a_retry_in_a_batch_is_named_by_its_index_and_the_rest_is_stored(relayed):
    inserts, _, stored = relayed
    await inserts([{"_id": "a", "n": 1}])
    with pytest.raises(BulkWriteError) as refused:
        await inserts([{"_id": "b"}, {"_id": "a", "n": 2}, {"_id": "c"}])
    errors = refused.value.details["writeErrors"]
    assert [(e["index"], e["code"]) for e in errors] == [(1, 11000)]
    assert sorted([d["_id"] async for d in stored.find()]) == ["a", "b", "c"]
    assert (await stored.find_one({"_id": "a"}))["n"] == 1


async def test_a_dropped_connection_fails_the_insert_under_way_and_the_next_reconnects(
        relayed):
    inserts, relay, stored = relayed
    await inserts([{"_id": "first"}])  # connected
    relay.hold()
    seen = relay.requests
    under_way = asyncio.create_task(inserts([{"_id": "cut"}]))
    await _wait_for_request(relay, seen)
    relay.cut()
    with pytest.raises(AutoReconnect):
        await under_way
    relay.release()
    await inserts([{"_id": "after"}])
    assert await stored.find_one({"_id": "after"}) is not None


async def test_a_reply_too_late_fails_its_insert_and_answers_no_later_one(relayed):
    inserts, relay, stored = relayed
    await inserts([{"_id": "first"}])
    relay.hold()
    with pytest.raises(NetworkTimeout):
        await inserts([{"_id": "late"}])
    relay.release()  # the late reply goes to the connection the timeout dropped
    with pytest.raises(BulkWriteError) as refused:
        # "late" was written after all: a retry of it is a duplicate, answered as such,
        # and not mistaken for the late reply of the first attempt.
        await inserts([{"_id": "next"}, {"_id": "late"}])
    assert [e["index"] for e in refused.value.details["writeErrors"]] == [1]
    assert await stored.find_one({"_id": "next"}) is not None


TIMEOUT = 2.0


@pytest.mark.parametrize("relayed", [TIMEOUT], indirect=True)
async def test_a_reply_within_its_own_timeout_is_answered_after_an_earlier_deadline_passed(
        relayed):
    """One timer watches every request's deadline (wire.py): an earlier request's deadline
    passing while a later one waits must neither fail the later one nor drop its
    connection."""
    inserts, relay, _ = relayed
    loop = asyncio.get_running_loop()
    await inserts([{"_id": "first"}])  # connected: the hello armed the timer for its deadline
    armed_for = loop.time() + TIMEOUT  # the hello's deadline is before this
    await asyncio.sleep(0.8 * TIMEOUT)
    relay.hold()
    seen, opened = relay.requests, relay.connections
    held = asyncio.create_task(inserts([{"_id": "held"}]))  # its deadline: 2 s from now
    await _wait_for_request(relay, seen)
    await asyncio.sleep(armed_for + 0.1 - loop.time())  # the timer has fired by then
    relay.release()  # ~1.5 s before the held request's own deadline
    await held  # answered, not failed with NetworkTimeout
    await inserts([{"_id": "after"}])
    assert relay.connections == opened  # the connection was kept: no reconnect
