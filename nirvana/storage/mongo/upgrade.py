"""Upgrades of a chat database written by an older release, run once at its first use.

Conversation states: a database from before they had their own collection
(`ConversationStateDoc`, see documents.py for why) kept last_seq, last_message,
last_activity and each member's read/delivered marks in the conversation documents.

The search-terms index: dropped by the start itself (`wiring/stores.py` `init_documents`
drops every index no longer declared); only announced here, because on the embedded store
the drop holds every request for as long as it runs.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from pymongo.errors import BulkWriteError

from .codec import marks_doc
from .collections import ChatCollections

log = logging.getLogger("nirvana.chat.store")
STATES_SPLIT_ID = "states_split"  # in chat_meta: present once the split is done
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


RETIRED_TERMS_INDEX = "terms_1"
# Up to this many messages a start drops the retired index itself (seconds to a minute on
# the embedded store); above it the drop waits for an operator's DROP_RETIRED_INDEXES.
DROP_AT_START_UP_TO = 100_000


async def keeps_retired_index(database: Any, *, drop_anyway: bool,
                              up_to: int = DROP_AT_START_UP_TO) -> bool:
    """Whether this start keeps the retired search-terms index of an older database.

    The embedded store answers nothing else while it drops an index (a millisecond or less
    per indexed word; docs/performance.md, "Message indexes"): an hour for a million
    messages. So a start drops it itself only from a small collection, saying so first;
    a larger one keeps it (each message still pays for it) until the operator restarts at a
    quiet time with DROP_RETIRED_INDEXES=on, and every start says so in the log."""
    messages = database["chat_messages"]
    if RETIRED_TERMS_INDEX not in await messages.index_information():
        return False
    count = await messages.estimated_document_count()
    if count <= up_to or drop_anyway:
        log.warning("dropping the search-terms index of chat_messages (%d messages), once: "
                    "the embedded store answers nothing else until it is done", count)
        return False
    log.warning("keeping the retired search-terms index of chat_messages (%d messages): "
                "dropping it holds the chat store for a while (about an hour per million "
                "messages on the embedded store); restart with DROP_RETIRED_INDEXES=on at a "
                "quiet time to drop it (docs/operations.md)", count)
    return True
