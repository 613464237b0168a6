"""Upgrades of a chat database written by an older release, run once at its first use.

Conversation states: a database from before they had their own collection
(`ConversationStateDoc`, see documents.py for why) kept last_seq, last_message,
last_activity and each member's read/delivered marks in the conversation documents.

Where seq order holds (`SEQ_ORDER_ID`): resume reads a conversation by seq past the position
where this release began to write; older releases may have left messages out of seq order.

Retired indexes (the search terms; (conversation_id, pos) since resume reads by seq):
dropped here (`retire_indexes`), each announced first, because on the embedded store
the drop holds every request for as long as it runs; the start then drops any other index
no longer declared (`wiring/stores.py` `init_documents`, through init_beanie). Kept while
the collection is big, with the count noted once so later starts keep them without
counting, until the operator's start drops them.

Added indexes: the start creates every declared index missing (`init_beanie`); the sparse
(message._id) index of chat_events (`build_copies_index`) and the (idempotency_key) index of
chat_conversations (`build_key_index`) are built here first, saying so before and after,
because a build holds the embedded store for as long as it scans every document.

The drops, the build, and the count of messages that decides whether a start drops (only
the first start to find a retired index counts; the operator's drops without counting), run
under `SCHEMA_TIMEOUT`, not the client's store_timeout: cut off there the start failed, and
the embedded store throws a build cut off away, so every start would try again and fail the
same way. The drops and the build log a line every `HEARTBEAT` while they run; the count is
announced before it starts. Everything else a start asks,
the listings that find them to do included, keeps the client's timeout, so a store that
does not answer data commands fails the start within it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

import pymongo
from beanie.odm.fields import IndexModelField
from pymongo import DESCENDING, IndexModel
from pymongo.errors import BulkWriteError

from ..schema_timeout import SCHEMA_TIMEOUT
from .codec import marks_doc
from .collections import ChatCollections
from .documents import COPIES_INDEX, KEY_INDEX

log = logging.getLogger("nirvana.chat.store")
STATES_SPLIT_ID = "states_split"  # in chat_meta: present once the split is done
# In chat_meta: {"pos": the newest message position when this release first wrote}.
SEQ_ORDER_ID = "seq_order"
CHUNK = 1000


def legacy_state(d: dict[str, Any]) -> dict[str, Any]:
    """The state an older conversation document kept itself."""
    return {"_id": d["_id"], "last_seq": d.get("last_seq", 0),
            "last_message": d.get("last_message"),
            "last_activity": d.get("last_activity") or d["created_at"],
            "marks": marks_doc((m["user_id"], m.get("read_seq", 0), m.get("delivered_seq", 0))
                               for m in d["members"])}


async def split_states(store: ChatCollections) -> None:
    """Copy each conversation's state out, then remove it there (a last message deleted
    since must not linger in a stale copy). Safe to repeat after a crash: a state already
    copied, or created since, is kept."""
    if await store.meta.find_one({"_id": STATES_SPLIT_ID}):
        return
    moved, chunk = 0, []
    async for d in store.conversations.find({}):
        chunk.append(legacy_state(d))
        if len(chunk) == CHUNK:
            moved += await _insert_new(store, chunk)
            chunk = []
    moved += await _insert_new(store, chunk)
    if moved:
        await store.conversations.update_many(
            {}, {"$unset": {"last_seq": "", "last_message": "", "last_activity": ""}})
        log.info("moved the state of %d conversations to their own collection", moved)
    await store.meta.update_one({"_id": STATES_SPLIT_ID},
                                 {"$set": {"at": datetime.now(timezone.utc)}}, upsert=True)


async def _insert_new(store: ChatCollections, states: list[dict[str, Any]]) -> int:
    if not states:
        return 0
    try:
        await store.states.insert_many(states, ordered=False)
    except BulkWriteError as exc:  # 11000: a state already stored stays as it is
        if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
            raise
    return len(states)


async def mark_seq_order(store: ChatCollections, checkpoint: int | None) -> None:
    """Note, once, the position past which every message was written by a release that
    keeps each conversation's seqs in position order (sends.py: an insert with no answer
    is asked again, never re-numbered past). Older releases moved a message to the head
    with its older seq, or let a late insert land below a seq reused meanwhile; resume
    reads the positions up to here by position (resume.py). Run by the writer before it
    writes anything (`Summaries.recover`)."""
    if await store.meta.find_one({"_id": SEQ_ORDER_ID}):
        return
    # From the summary checkpoint (`checkpoint`), where the newest position is: an
    # unbounded sort reads the whole stream on the embedded store (positions.py).
    floor = {"pos": {"$gte": checkpoint}} if checkpoint is not None else {}
    top = await store.messages.find_one(floor, sort=[("pos", DESCENDING)],
                                        projection={"pos": 1})
    if top is None and floor:
        top = await store.messages.find_one({}, sort=[("pos", DESCENDING)],
                                            projection={"pos": 1})
    await store.meta.update_one({"_id": SEQ_ORDER_ID},
                                {"$setOnInsert": {"pos": top["pos"] if top else 0}},
                                upsert=True)


class SeqOrder:
    """Where seq order holds (`SEQ_ORDER_ID`), as resume asks for it. Once noted it never
    changes (`mark_seq_order` writes it only if absent), so it is read until found, then
    kept: a resume saves a round trip. While absent it is read each time: a follower that
    started before any writer of this release must see it once one notes it."""

    def __init__(self, store: ChatCollections) -> None:
        self._store = store
        self._pos: int | None = None

    async def since(self, head: int) -> int:
        """The position past which each conversation's seqs follow its positions; `head`
        while no writer of this release has noted it yet (another process leads, still to
        start)."""
        if self._pos is None:
            found = await self._store.meta.find_one({"_id": SEQ_ORDER_ID})
            if found is None:
                return head
            self._pos = found["pos"]
        return self._pos


# How often a long schema step says it is still running: a silent half hour reads as a hang.
HEARTBEAT = 30.0


async def _long_step(doing: str, step: Callable[[], Awaitable[Any]], *,
                     heartbeat: float = HEARTBEAT) -> float:
    """Run `step` under `SCHEMA_TIMEOUT`, logging `still <doing> (N s)` every `heartbeat`
    seconds until it ends; how long it took. The instance serves nothing meanwhile, so the
    log is all an operator sees of it (a store frozen mid-step included)."""
    started = time.monotonic()

    async def beat() -> None:
        while True:
            await asyncio.sleep(heartbeat)
            log.warning("still %s (%.0f s)", doing, time.monotonic() - started)

    beating = asyncio.create_task(beat())
    try:
        # pymongo applies the client's timeoutMS inside `pymongo.timeout(None)`: the bound
        # must be explicit.
        with pymongo.timeout(SCHEMA_TIMEOUT):
            await step()
    finally:
        beating.cancel()
    return time.monotonic() - started


RETIRED_TERMS_INDEX = "terms_1"
RETIRED_POSITION_INDEX = "conversation_id_1_pos_1"  # resume reads by seq since issue 22
# The indexes of chat_messages older releases declared, by what the log calls them.
RETIRED_INDEXES = {RETIRED_TERMS_INDEX: "search-terms",
                   RETIRED_POSITION_INDEX: "(conversation_id, pos)"}
# Up to this many messages a start drops a retired index itself (seconds to a minute on
# the embedded store); above it the drop waits for an operator's DROP_RETIRED_INDEXES.
DROP_AT_START_UP_TO = 100_000
# In chat_meta while a start keeps the retired indexes: {"count": the messages it counted,
# "at"}. Later starts keep them on its word, whatever their bound: the count is a scan of
# every message on the embedded store (docs/operations.md), and a collection once too
# big to drop at a start seldom shrinks back. Only the operator's start drops them then.
RETIRED_KEPT_ID = "retired_kept"


async def retire_indexes(database: Any, *, drop_anyway: bool,
                         up_to: int = DROP_AT_START_UP_TO) -> bool:
    """Drop the retired indexes of an older database's chat_messages (`RETIRED_INDEXES`),
    unless the collection is big; whether it kept any (the start then drops no other index
    either).

    The embedded store answers nothing else while it drops an index (up to a millisecond
    per entry; docs/performance.md, "Message indexes"): for the search terms, an entry per
    word, an hour for a million messages. So a start drops them itself only from a
    collection of up to `up_to` messages, saying so before and after each drop; a larger one
    keeps them (each message still pays for them) until the operator restarts at a quiet
    time with DROP_RETIRED_INDEXES=on (`drop_anyway`), which drops them without counting,
    and every start says so in the log. The first start to keep them counts the messages
    and notes it (`RETIRED_KEPT_ID`); later ones keep them on that note, counting nothing.
    Only the count and the drops run under `SCHEMA_TIMEOUT`."""
    messages = database["chat_messages"]
    present = await messages.index_information()
    retired = [(name, what) for name, what in RETIRED_INDEXES.items() if name in present]
    if not retired:
        return False
    if drop_anyway:
        await _drop(messages, retired, "")
        await database["chat_meta"].delete_one({"_id": RETIRED_KEPT_ID})
        return False
    noted = await database["chat_meta"].find_one({"_id": RETIRED_KEPT_ID})
    if noted is not None:
        count, when = int(noted["count"]), f" when counted on {noted['at']:%Y-%m-%d}"
    else:
        # Said before the count: on the embedded store it scans every message.
        log.info("chat_messages holds retired indexes: counting its messages first")
        with pymongo.timeout(SCHEMA_TIMEOUT):
            count, when = int(await messages.estimated_document_count()), ""
        if count <= up_to:
            await _drop(messages, retired, f" ({count} messages)")
            return False
        await database["chat_meta"].update_one(
            {"_id": RETIRED_KEPT_ID},
            {"$set": {"count": count, "at": datetime.now(timezone.utc)}}, upsert=True)
    for _, what in retired:
        log.warning("keeping the retired %s index of chat_messages (%d messages%s): "
                    "dropping it holds the chat store for a while (up to an hour per "
                    "million messages on the embedded store); restart with "
                    "DROP_RETIRED_INDEXES=on at a quiet time to drop it "
                    "(docs/operations.md)", what, count, when)
    return True


async def _drop(messages: Any, retired: list[tuple[str, str]], size: str) -> None:
    """Drop each of `retired` (name, what the log calls it), saying so before and after."""
    for name, what in retired:
        log.warning("dropping the %s index of chat_messages%s, once: the chat store answers "
                    "nothing else until it is done", what, size)
        took = await _long_step(f"dropping the {what} index of chat_messages",
                                lambda name=name: messages.drop_index(name))
        log.warning("dropped the %s index of chat_messages in %.2f s", what, took)


# What the embedded store takes to build each index a start may build, for the log's
# estimate (docs/performance.md, "A delete for everyone's event copies" and "A group's
# Idempotency-Key").
BUILD_RATE = "about 1.5 s per 100,000 events kept on the embedded store"
KEY_BUILD_RATE = "about 1 s per 100,000 conversations on the embedded store"


async def build_copies_index(database: Any, *, heartbeat: float = HEARTBEAT) -> None:
    """Build the sparse (message._id) index of an older database's chat_events (documents.py
    `COPIES_INDEX`) as `build_declared_index` says."""
    await build_declared_index(database, "chat_events", COPIES_INDEX, "(message._id)",
                               BUILD_RATE, heartbeat=heartbeat)


async def build_key_index(database: Any, *, heartbeat: float = HEARTBEAT) -> None:
    """Build the sparse unique (idempotency_key) index of an older database's
    chat_conversations (documents.py `KEY_INDEX`) as `build_declared_index` says."""
    await build_declared_index(database, "chat_conversations", KEY_INDEX,
                               "(idempotency_key)", KEY_BUILD_RATE, heartbeat=heartbeat)


async def build_declared_index(database: Any, collection: str, index: IndexModel, what: str,
                               rate: str, *, heartbeat: float = HEARTBEAT) -> None:
    """Build `index` of an older database's `collection`, saying so before and after: the
    embedded store answers nothing else while it scans every document. An index of that
    name that is not exactly the one declared (by Beanie's comparison: keys and every
    option) is dropped and built again here, so init_beanie, under the client's timeout,
    finds it as declared and neither drops nor builds it. Only the drop and the build run
    under `SCHEMA_TIMEOUT`: the checks before them keep the client's timeout, so an
    instance starting during the build fails its start within store_timeout (a store busy
    that long looks like one that does not answer) and finds the index built at its next
    start. A database that has it costs one listing of indexes; a new one (no such
    collection yet) a listing of collections more, and init_beanie creates the index with
    the others, at no cost."""
    documents = database[collection]
    name = index.document["name"]
    present = await documents.index_information()
    if IndexModelField(index) in IndexModelField.from_pymongo_index_information(present):
        return
    if not await database.list_collection_names(filter={"name": collection}):
        return
    if name in present:
        found = {k: v for k, v in present[name].items() if k != "v"}
        log.warning("the %s index of %s is not the one declared (%s, declared %s): "
                    "dropping it to build the declared one", what, collection, found,
                    {**index.document, "key": list(index.document["key"].items())})
        await _long_step(f"dropping the {what} index of {collection}",
                         lambda: documents.drop_index(name), heartbeat=heartbeat)
    log.warning("building the %s index of %s, once: %s, during which the chat store "
                "answers nothing else and this instance serves nothing; an instance "
                "starting meanwhile fails past store_timeout and finds it built when "
                "started again (docs/operations.md)", what, collection, rate)
    took = await _long_step(f"building the {what} index of {collection}",
                            lambda: documents.create_indexes([index]), heartbeat=heartbeat)
    log.warning("built the %s index of %s in %.2f s", what, collection, took)
