"""A start's schema steps (upgrade.py) can hold the embedded store for longer than the
client's timeout (store_timeout, 5 s): building the (message._id) index of a big older
chat_events, dropping a retired index of a big chat_messages. Cut off, the start failed,
and the store threw the build away, so every start failed the same way. Here a start whose
client times out after 100 ms upgrades an older database whose build or drop takes longer,
over the real MongoDB-wire store; and a start with neither to do still fails within that
timeout when the store holds its data commands."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

import pymongo
import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from bench.delete_copies import copy_event
from nirvana.storage.mongo.upgrade import RETIRED_POSITION_INDEX
from nirvana.wiring.stores import init_documents

TIMEOUT_MS = 100
# Enough that the build or the drop takes longer than TIMEOUT_MS on an idle machine too
# (each start took 0.3-0.4 s here; cut off at TIMEOUT_MS, both failed before the fix).
ROWS = 10_000
COPIES_INDEX = "message._id_1"
# Events another client's build scans to hold the store: about a second on an idle machine,
# many times TIMEOUT_MS.
HELD = 30_000
# For making and removing the older database, past the session client's 5 s on a loaded
# machine: not what is tested.
FILLING = 120


@pytest.fixture
async def older(stores, server_urls, settings):
    """A database of its own with every declared index, a client that times out after
    TIMEOUT_MS, and, when done, the documents bound back to the session's database."""
    _, mongo = stores
    name = f"{settings.mongodb_db}_older"
    await init_documents(mongo, name)
    short = AsyncMongoClient(server_urls[1], tz_aware=True, timeoutMS=TIMEOUT_MS)
    try:
        yield mongo[name], short
    finally:
        await short.close()
        with pymongo.timeout(FILLING):
            await mongo.drop_database(name)
        await init_documents(mongo, settings.mongodb_db)


async def _started(short: AsyncMongoClient, name: str, **flags: bool) -> None:
    """A start's schema steps, checked to have taken longer than the client's timeout (else
    nothing here would have been cut off before the fix)."""
    began = time.monotonic()
    await init_documents(short, name, **flags)
    assert time.monotonic() - began > 2 * TIMEOUT_MS / 1000


async def test_a_start_builds_the_copies_index_past_the_clients_timeout(older, caplog):
    """As an older release left it: no (message._id) index, events carrying messages."""
    database, short = older
    events = database["chat_events"]
    await events.drop_index(COPIES_INDEX)
    now = datetime.now(timezone.utc)
    with pymongo.timeout(FILLING):
        await events.insert_many([copy_event(pos, f"m{pos}", now) for pos in range(ROWS)])
    await _started(short, database.name)
    assert (await events.index_information())[COPIES_INDEX].get("sparse") is True
    said = [r.getMessage() for r in caplog.records]
    assert any(f"building the (message._id) index of chat_events ({ROWS} events)" in m
               and "answers nothing else" in m for m in said)
    assert any(m.startswith("built the (message._id) index of chat_events in ") for m in said)
    caplog.clear()
    await init_documents(short, database.name)  # its next start finds it, says nothing
    assert not any("(message._id)" in r.getMessage() for r in caplog.records)


async def test_a_start_with_drop_retired_indexes_drops_past_the_clients_timeout(older):
    """The operator's start at a quiet time (DROP_RETIRED_INDEXES=on): an older database's
    (conversation_id, pos) index goes, however long its drop takes."""
    database, short = older
    messages = database["chat_messages"]
    await messages.create_index([("conversation_id", 1), ("pos", 1)],
                                name=RETIRED_POSITION_INDEX)
    with pymongo.timeout(FILLING):
        await messages.insert_many([{"_id": f"m{pos}", "conversation_id": "c",
                                     "seq": pos + 1, "pos": pos} for pos in range(ROWS)])
    await _started(short, database.name, drop_retired_indexes=True)
    assert RETIRED_POSITION_INDEX not in await messages.index_information()


async def _held(short: AsyncMongoClient, name: str, build: asyncio.Task[None]) -> None:
    """Until a data command of `short` gets no answer within its timeout: `build` holds
    the store (which still answers a ping)."""
    while not build.done():
        try:
            await short[name]["chat_meta"].find_one({})
        except PyMongoError as exc:
            if exc.timeout:
                return
            raise
    raise AssertionError("the build ended before it held the store")


async def test_a_start_with_nothing_to_build_fails_within_the_clients_timeout(older):
    """A store that answers a ping but not data commands (here: busy with another client's
    long index build, during which the embedded store answers nothing else) fails a start
    that has nothing to build or drop within the client's timeout: only a build or drop the
    log announced may wait past it, not a start that would otherwise sit silent."""
    database, short = older
    held = database["held"]
    now = datetime.now(timezone.utc)
    with pymongo.timeout(FILLING):
        await held.insert_many([copy_event(pos, f"m{pos}", now) for pos in range(HELD)])

    async def build() -> None:
        with pymongo.timeout(FILLING):
            await held.create_index([("message._id", 1)])

    building = asyncio.create_task(build())
    try:
        await _held(short, database.name, building)
        began = time.monotonic()
        with pytest.raises(PyMongoError) as failed:
            await init_documents(short, database.name)
        assert failed.value.timeout
        assert not building.done()  # it gave up while the store was held, not after
        assert time.monotonic() - began < 10 * TIMEOUT_MS / 1000
    finally:
        await building
