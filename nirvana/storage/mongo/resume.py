"""Resume: what a user missed after a stream position, read from messages and events."""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo import ASCENDING

from ...domain.chat.entities import ChatEvent, Message, Receipt, StreamPage
from .codec import message_of, stream_item_of
from .collections import ChatCollections, collect
from .summaries import CHECKPOINT_ID, Summaries, SummaryBuffer

FLOOR_ID = "resume_floor"  # in chat_meta: {"_id": ..., "pos": the highest pruned position}


async def stream_since(db: ChatCollections, summaries: Summaries, user_id: int, since: int,
                       head: int, limit: int, *, others_unwritten: bool = False) -> StreamPage:
    """The user's messages and events with since < pos <= head, at most `limit`. Bounded by
    head: every position up to it is stored, so the queries below see the same complete
    prefix; anything later reaches the client live. `others_unwritten`: another process
    runs the writer, so the summaries it has not written yet are not in `summaries`."""
    window = {"$gt": since, "$lte": head}
    mine = summaries.unwritten()  # before the reads: see `Summaries.unwritten`
    # Read before the states are (in _messages_since): see `_unwritten_elsewhere`.
    elsewhere = await _unwritten_elsewhere(db, since, head) if others_unwritten else {}
    events_query = db.events.find({"audience": user_id, "pos": window}).sort(
        "pos", ASCENDING).limit(limit + 1)
    pages = await asyncio.gather(
        _messages_since(db, summaries, mine, user_id, window, since, limit, elsewhere),
        collect(events_query))
    msgs, more = pages[0]
    events = [stream_item_of(d) for d in pages[1]]
    items: list[Message | Receipt | ChatEvent] = sorted([*msgs, *events], key=lambda i: i.pos)
    return StreamPage(items=items[:limit], truncated=more or len(items) > limit, head=head)


async def _messages_since(db: ChatCollections, summaries: Summaries,
                          mine: list[SummaryBuffer], user_id: int, window: dict[str, int],
                          since: int, limit: int, elsewhere: dict[str, int]
                          ) -> tuple[list[Message], bool]:
    """The user's messages in `window`, and whether there may be more than `limit`.

    Through the user's current conversations: one removed from a conversation no longer
    reads it, so its messages are not replayed (the removal event is). `audience` (who was a
    member when it was sent) and `hidden_for` still decide, checked here rather than in the
    query: the embedded store walks the (conversation_id, pos) index only for one equality
    plus one range, and any other clause made it read the whole history of the user's
    conversations (docs/performance.md). Only conversations whose last message is past
    `since` are read at all."""
    ids = [d["_id"] async for d in db.conversations.find(
        {"member_ids": user_id}, projection={"_id": 1})]
    states = [d async for d in db.states.find(
        {"_id": {"$in": ids}}, projection={"last_message.pos": 1, "last_pos": 1})]
    unwritten = summaries.unwritten(mine)  # after the read too: see `Summaries.unwritten`
    active = [d["_id"] for d in states
              if max(_last_pos(unwritten, d), elsewhere.get(d["_id"], 0)) > since]
    pages = await asyncio.gather(*(collect(db.messages.find(
        {"conversation_id": cid, "pos": window}).sort("pos", ASCENDING).limit(limit + 1))
        for cid in active))
    more = any(len(page) > limit for page in pages)
    msgs = [message_of(d) for page in pages for d in page
            if user_id in d.get("audience", ()) and user_id not in d.get("hidden_for", ())]
    return msgs, more


async def _unwritten_elsewhere(db: ChatCollections, since: int, head: int
                               ) -> dict[str, int]:
    """Conversation id -> its newest message position, for the messages whose summaries
    another process (the writer) may not have written yet: those past the summary
    checkpoint, at most a flush interval of them. Read before the states: a flush landing
    in between writes states and checkpoint together, so every message past `since` is
    counted by the one or the other."""
    found = await db.meta.find_one({"_id": CHECKPOINT_ID})
    floor = max(since, found["pos"] if found else 0)
    last: dict[str, int] = {}
    async for d in db.messages.find({"pos": {"$gt": floor, "$lte": head}},
                                    projection={"conversation_id": 1, "pos": 1}):
        cid = d["conversation_id"]
        last[cid] = max(last.get(cid, 0), d["pos"])
    return last


def _last_pos(unwritten: list[SummaryBuffer], d: dict[str, Any]) -> int:
    """The position of the newest message of the conversation `d` (a stored summary),
    counting the summaries not written yet. Not only the last message's: a message moved to
    the head by an older release keeps its older seq (documents.py `moved`), so its
    position is kept apart (`last_pos`, `SummaryBuffer.moved`)."""
    cid = d["_id"]
    last = max((d.get("last_message") or {}).get("pos", 0), d.get("last_pos", 0))
    for buffer in unwritten:
        held = buffer.last.get(cid)
        if held is not None:
            last = max(last, held.pos, buffer.moved.get(cid, 0))
    return last
