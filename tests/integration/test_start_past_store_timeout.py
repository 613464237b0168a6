"""A start's schema steps (upgrade.py) can hold the embedded store for longer than the
client's timeout (store_timeout, 5 s): building the (message._id) index of a big older
chat_events, dropping a retired index of a big chat_messages. Cut off, the start failed,
and the store threw the build away, so every start failed the same way. Here a start whose
client times out after TIMEOUT_MS upgrades an older database whose build or drop takes
longer (by its own logged duration), over the real MongoDB-wire store; a start with neither
to do still fails within that timeout when the store holds its data commands; and a start
that keeps the retired indexes of a big store counts its messages once, not at every start."""

from __future__ import annotations

import asyncio
import re
import time
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any, AsyncIterator

import pymongo
import pytest
from pymongo import AsyncMongoClient, IndexModel, monitoring
from pymongo.errors import PyMongoError

from bench.delete_copies import copy_event
from nirvana.storage.mongo.upgrade import RETIRED_TERMS_INDEX, build_copies_index
from nirvana.wiring.stores import init_documents

# What every ordinary command of a start (some 15) meets on a loaded machine; each long
# step below takes at least twice as long, also on an idle machine (the build ~1.5 s per
# 100,000 events there: about 0.6 s for these, twice the timeout).
TIMEOUT_MS = 300
EVENTS = 40_000
# Messages whose search-terms index (WORDS entries each) takes as long to drop.
MESSAGES, WORDS = 10_000, 8
COPIES_INDEX = "message._id_1"
# Indexes another client builds at once over `older_events_database`'s EVENTS events to
# hold the store. The start it holds fails about twice TIMEOUT_MS after the build began
# (`_held`'s read timed out, then the start's own): each index takes about 1.5 s per
# 100,000 events on an idle machine, so these three hold it some 1.8 s, three times that
# (as one index over 120,000 events of their own did, whose fill and drop took longer).
HELD = [IndexModel([(key, -1)], name=f"held_{key}")
        for key in ("message._id", "message.seq", "created_at")]
# For making and removing the older database, past the session client's 5 s on a loaded
# machine: not what is tested.
FILLING = 300


class Commands(monitoring.CommandListener):
    """The commands a client sent, as (name, collection), and how many indexes each
    createIndexes added (by request id)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []
        self.built: dict[int, int] = {}
        self._targets: dict[int, Any] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent.append((event.command_name, event.command.get(event.command_name)))
        self._targets[event.request_id] = event.command.get(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.command_name == "createIndexes":
            added = event.reply["numIndexesAfter"] - event.reply["numIndexesBefore"]
            self.built[event.request_id] = added

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def count(self, name: str, collection: str) -> int:
        return self.sent.count((name, collection))

    def builds_on(self, collection: str) -> int:
        """How many createIndexes on `collection` added an index."""
        return sum(1 for rid, added in self.built.items()
                   if added and self._targets.get(rid) == collection)

    def clear(self) -> None:
        self.sent.clear()
        self.built.clear()


async def _drop(mongo: AsyncMongoClient, name: str) -> None:
    # Slow on the embedded store at these sizes; but left to the session's store (thrown
    # away at its end), these databases slowed the chat tests run after this file.
    with pymongo.timeout(FILLING):
        await mongo.drop_database(name)


@asynccontextmanager
async def _older_client(mongo: AsyncMongoClient, server_urls, settings,
                        database: Any) -> AsyncIterator[tuple[Any, AsyncMongoClient, Commands]]:
    """`database`, a client that times out after TIMEOUT_MS and what it sent, and, when
    done, the documents bound back to the session's database."""
    sent = Commands()
    short = AsyncMongoClient(server_urls[1], tz_aware=True, timeoutMS=TIMEOUT_MS,
                             event_listeners=[sent])
    try:
        yield database, short, sent
    finally:
        try:
            await short.close()
        finally:
            await init_documents(mongo, settings.mongodb_db)


@pytest.fixture
async def older(stores, server_urls, settings):
    """A database of its own with every declared index, a client that times out after
    TIMEOUT_MS and what it sent, and, when done, the documents bound back to the session's
    database."""
    _, mongo = stores
    name = f"{settings.mongodb_db}_older"
    await init_documents(mongo, name)
    try:
        async with _older_client(mongo, server_urls, settings, mongo[name]) as older:
            yield older
    finally:
        await _drop(mongo, name)


@pytest.fixture(scope="module")
async def older_events_database(stores, base_settings):
    """A database whose chat_events an older release left with EVENTS events (see
    `_older_events`): filled once for the tests of the (message._id) index, the longest
    part of each; each sets that index as its case starts (`older_events`)."""
    _, mongo = stores
    name = f"{base_settings.mongodb_db}_older_events"
    await init_documents(mongo, name)
    try:
        await _older_events(mongo[name])
    finally:
        await init_documents(mongo, base_settings.mongodb_db)
    yield mongo[name]
    await _drop(mongo, name)


@pytest.fixture
async def older_events(stores, server_urls, settings, older_events_database):
    """As `older`, on `older_events_database`, whose chat_events has no (message._id)
    index: a test that wants one builds it."""
    _, mongo = stores
    events = older_events_database["chat_events"]
    if COPIES_INDEX in await events.index_information():  # the previous test's build
        with pymongo.timeout(FILLING):
            await events.drop_index(COPIES_INDEX)
    async with _older_client(mongo, server_urls, settings, older_events_database) as older:
        yield older


async def _filled(collection: Any, docs: list[dict[str, Any]], *extra: IndexModel) -> None:
    """`docs` inserted with `collection`'s indexes and `extra` built after them, not kept
    on each insert: several times faster."""
    indexes = [IndexModel(d["key"], name=name,
                          **{k: v for k, v in d.items() if k not in ("key", "v")})
               for name, d in (await collection.index_information()).items() if name != "_id_"]
    with pymongo.timeout(FILLING):
        await collection.drop_indexes()
        await collection.insert_many(docs)
        await collection.create_indexes([*indexes, *extra])


async def _older_events(database: Any, *extra: IndexModel, count: int = EVENTS) -> Any:
    """chat_events as an older release left it: `count` events carrying messages, no
    (message._id) index, or the one in `extra`."""
    events = database["chat_events"]
    await events.drop_index(COPIES_INDEX)
    now = datetime.now(timezone.utc)
    await _filled(events, [copy_event(pos, f"m{pos}", now) for pos in range(count)], *extra)
    return events


def _took(caplog: pytest.LogCaptureFixture, done: str) -> float:
    """The duration the log gave the step `done` ("built the ... in S s")."""
    found = [float(m.group(1)) for r in caplog.records
             if (m := re.fullmatch(re.escape(done) + r" in ([0-9.]+) s", r.getMessage()))]
    assert len(found) == 1, [r.getMessage() for r in caplog.records]
    return found[0]


BUILT = "built the (message._id) index of chat_events"


async def test_a_start_builds_the_copies_index_past_the_clients_timeout(older_events,
                                                                       caplog):
    """As an older release left it; init_beanie, after the build, finds the index as it
    declares it, so it neither drops nor builds it under the client's timeout."""
    database, short, sent = older_events
    events = database["chat_events"]
    await init_documents(short, database.name)
    assert (await events.index_information())[COPIES_INDEX].get("sparse") is True
    said = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("building the (message._id) index of chat_events, once: about "
                            "1.5 s per 100,000 events") and "serves nothing" in m for m in said)
    assert _took(caplog, BUILT) >= TIMEOUT_MS / 1000
    assert sent.count("count", "chat_events") == 0  # a scan as long as half the build
    assert sent.count("dropIndexes", "chat_events") == 0
    assert sent.builds_on("chat_events") == 1  # the start's own build, not init_beanie's
    caplog.clear()
    await init_documents(short, database.name)  # its next start finds it, says nothing
    assert not any("(message._id)" in r.getMessage() for r in caplog.records)


async def test_a_start_rebuilds_a_copies_index_made_with_other_options(older_events,
                                                                      caplog):
    """A (message._id) index made by hand without `sparse` (the obvious way to build it
    ahead of a start): the start drops it and builds the declared one, past the client's
    timeout, saying so; init_beanie would have done both within it, and been cut off."""
    database, short, sent = older_events
    events = database["chat_events"]
    with pymongo.timeout(FILLING):
        await events.create_indexes([IndexModel([("message._id", 1)])])
    assert "sparse" not in (await events.index_information())[COPIES_INDEX]
    await init_documents(short, database.name)
    assert (await events.index_information())[COPIES_INDEX].get("sparse") is True
    assert any("the (message._id) index of chat_events is not the one declared"
               in r.getMessage() for r in caplog.records)
    assert _took(caplog, BUILT) >= TIMEOUT_MS / 1000
    assert sent.count("dropIndexes", "chat_events") == 1  # the start's own, not init_beanie's


async def test_the_operators_start_drops_the_retired_indexes_of_a_big_store(older, caplog):
    """DROP_RETIRED_INDEXES=on: an older database's search-terms index goes although the
    store is above the size a start drops it at, however long the drop takes, without
    counting its messages first."""
    database, short, sent = older
    messages = database["chat_messages"]
    await _filled(messages, [{"_id": f"m{pos}", "conversation_id": "c", "seq": pos + 1,
                              "pos": pos, "terms": [f"w{pos}-{i}" for i in range(WORDS)]}
                             for pos in range(MESSAGES)],
                  IndexModel([("terms", 1)], name=RETIRED_TERMS_INDEX))
    await init_documents(short, database.name, drop_retired_indexes=True,
                         drop_at_start_up_to=MESSAGES - 1)
    assert RETIRED_TERMS_INDEX not in await messages.index_information()
    assert sent.count("count", "chat_messages") == 0  # a scan that decides nothing here
    assert _took(caplog, "dropped the search-terms index of chat_messages") >= TIMEOUT_MS / 1000


async def test_a_start_that_kept_the_retired_indexes_does_not_count_again(older, caplog):
    """Counting the messages is a scan on the embedded store (about 10 s per million): the
    first start above the bound counts and notes it, later ones keep the index on that note,
    whatever their own bound (the noted count may be long out of date), and still say how
    to drop it; only the operator's start drops it, and the note with it."""
    database, short, sent = older
    messages = database["chat_messages"]
    await messages.insert_many([{"_id": f"m{pos}", "conversation_id": "c", "seq": pos + 1,
                                 "pos": pos} for pos in range(3)])
    await messages.create_index([("terms", 1)], name=RETIRED_TERMS_INDEX)
    await init_documents(short, database.name, drop_at_start_up_to=2)
    assert sent.count("count", "chat_messages") == 1
    sent.clear()
    caplog.clear()
    await init_documents(short, database.name, drop_at_start_up_to=3)  # a bound raised since
    assert RETIRED_TERMS_INDEX in await messages.index_information()
    assert not [c for c in sent.sent if c in {("count", "chat_messages"),
                                              ("aggregate", "chat_messages")}]
    noted = await database["chat_meta"].find_one({"_id": "retired_kept"})
    assert any(r.getMessage().startswith(
        "keeping the retired search-terms index of chat_messages (3 messages when counted "
        f"on {noted['at']:%Y-%m-%d})") for r in caplog.records)
    await init_documents(short, database.name, drop_retired_indexes=True,
                         drop_at_start_up_to=2)
    assert RETIRED_TERMS_INDEX not in await messages.index_information()
    assert await database["chat_meta"].find_one({"_id": "retired_kept"}) is None


async def test_a_long_build_says_it_is_still_running(older, caplog):
    """The instance serves nothing during the build: a line at each heartbeat shows it is
    not hung."""
    database, _, _ = older
    events = await _older_events(database, count=EVENTS // 5)
    await build_copies_index(database, heartbeat=0.02)
    assert _took(caplog, BUILT) > 0.04  # else no heartbeat was due
    assert any(re.fullmatch(r"still building the \(message\._id\) index of chat_events "
                            r"\([0-9]+ s\)", r.getMessage()) for r in caplog.records)
    assert (await events.index_information())[COPIES_INDEX].get("sparse") is True


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


async def test_a_start_with_nothing_to_build_fails_within_the_clients_timeout(
        older, older_events_database, caplog):
    """A store that answers a ping but not data commands (here: busy with another client's
    long index build, during which the embedded store answers nothing else) fails a start
    that has nothing to build or drop within the client's timeout, with a line saying where
    to read why: only a build or drop the log announced may wait past it."""
    database, short, _ = older
    held = older_events_database["chat_events"]  # another database of the same store

    async def build() -> None:
        with pymongo.timeout(FILLING):
            try:
                await held.create_indexes(HELD)
            finally:  # the (message._id) tests' starts would drop them as undeclared
                for index in HELD:
                    await held.drop_index(index.document["name"])

    building = asyncio.create_task(build())
    try:
        await _held(short, database.name, building)
        began = time.monotonic()
        with pytest.raises(PyMongoError) as failed:
            await init_documents(short, database.name)
        assert failed.value.timeout
        # It gave up while the store was held, not after.
        assert not building.done(), "the held build ended first: HELD too few here"
        assert time.monotonic() - began < 10 * TIMEOUT_MS / 1000
    finally:
        await building
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        "the chat store gave no answer within store_timeout to the start's check of its "
        "indexes: it is unreachable or not answering, or another instance is building an "
        "index, and then this start succeeds once the build is done (docs/operations.md, "
        "\"Upgrading a big chat store\")"]
