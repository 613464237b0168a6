"""Going back to a release from before receipt bundles (docs/operations.md, "Receipts stored
together"): each bundle rewritten as the plain receipt documents an earlier release reads."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING

from .codec import RECEIPT, RECEIPTS, receipt_doc, receipts_of
from .documents import EventDoc

BATCH = 1000  # bundles read at a time


async def unbundle_receipts(chat: Any) -> int:
    """Rewrite every bundle in `chat` (a database) as plain receipt documents, each at its
    own position, unstamped (the fence's validator passes those, where an older writer's
    stamp would be refused); the number of bundles rewritten. For every instance stopped:
    a running writer stores new bundles.

    A bundle's plain documents are inserted before it is deleted, so the newest event, which
    a start takes as the stream's top (positions.py `_read_top`), never falls: no position
    is handed out twice. Plain receipts inside a bundle's interval can only be those of a
    run cut between the two (no other write takes those positions), so they are deleted
    first: run again after a failure, it finishes what is left and stores nothing twice."""
    events = chat[EventDoc.Settings.name]
    done, after = 0, 0
    while True:
        bundles = [d async for d in events.find({"type": RECEIPTS, "pos": {"$gt": after}})
                   .sort("pos", ASCENDING).limit(BATCH)]
        if not bundles:
            return done
        for d in bundles:
            await events.delete_many({"type": RECEIPT, "conversation_id": d["conversation_id"],
                                      "pos": {"$gte": d["first"], "$lte": d["pos"]}})
            await events.insert_many([receipt_doc(r, d["created_at"]) for r in receipts_of(d)])
            await events.delete_one({"_id": d["_id"]})
        done += len(bundles)
        after = bundles[-1]["pos"]


async def bundles_left(chat: Any) -> int:
    """The bundles `chat` holds: after `unbundle_receipts`, those a writer stored since."""
    return await chat[EventDoc.Settings.name].count_documents({"type": RECEIPTS})
