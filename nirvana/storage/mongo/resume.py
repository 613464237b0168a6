"""Resume: what a user missed after a stream position, read from messages and events."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any

from pymongo import ASCENDING

from ...domain.chat.entities import ChatEvent, Message, Receipt, StreamPage
from .codec import STREAM_PROJECTION, message_of, stream_refs_of
from .collections import ChatCollections, collect
from .conversation_since import by_position, by_seq
from .summaries import CHECKPOINT_ID, Summaries
from .summary_buffer import SummaryBuffer
from .upgrade import SeqOrder

FLOOR_ID = "resume_floor"  # in chat_meta: {"_id": ..., "pos": the highest pruned position}


# A resume from further back than this before where seq order holds (`SEQ_ORDER_ID`) is
# answered "not recovered": the messages up to there are read by position through the (pos)
# index, every conversation's, which costs the store about this many documents.
OLDER_SPAN = 10_000


async def stream_since(db: ChatCollections, summaries: Summaries, seq_order: SeqOrder,
                       user_id: int, since: int, head: int, limit: int, *,
                       others_unwritten: bool = False) -> StreamPage:
    """The user's messages and events with since < pos <= head, at most `limit`. Bounded by
    head: every position up to it is stored, so the queries below see the same complete
    prefix; anything later reaches the client live. `others_unwritten`: another process
    runs the writer, so the summaries it has not written yet are not in `summaries`."""
    older_to = min(await seq_order.since(head), head)
    if since < older_to - OLDER_SPAN:
        return StreamPage(items=[], truncated=True, head=head)
    mine = summaries.unwritten()  # before the reads: see `Summaries.unwritten`
    # Read before the states are (in _messages_since): see `_unwritten_elsewhere`.
    elsewhere = await _unwritten_elsewhere(db, since, head) if others_unwritten else {}
    (msgs, more, ids), (events, refs) = await asyncio.gather(
        _messages_since(db, summaries, mine, user_id, since, head, older_to, limit,
                        elsewhere),
        _events_since(db, user_id, since, head, limit))
    items: list[Message | Receipt | ChatEvent] = sorted([*msgs, *events], key=lambda i: i.pos)
    # Cut before the filter in `_as_now`, so `truncated` counts every position read. A cut
    # page is answered `resync_required`, its items unused: its messages are not read (its
    # change events are left without theirs).
    truncated = more or len(items) > limit
    page = items[:limit]
    return StreamPage(items=page if truncated else await _as_now(db, user_id, ids, page, refs),
                      truncated=truncated, head=head)


async def _as_now(db: ChatCollections, user_id: int, conversations: set[str],
                  items: list[Message | Receipt | ChatEvent], refs: dict[int, tuple[str, int]]
                  ) -> list[Message | Receipt | ChatEvent]:
    """`items` with each message event (its position -> the message's id and seq in `refs`)
    carrying the message as it is now, as a replayed `newMessage` does: docs/protocol.md,
    "Resume algorithm". Left out, as for `newMessage`: events of a conversation the user is
    no longer in (its later changes are not theirs to see), of a message they hid, and of a
    message no longer stored at the event's seq (a send taken back, sends.py `_take_back`:
    never acknowledged, so its change has nothing to show). The user's own
    `message.deleted`, `scope: me`, carries no message, so is kept, even in a conversation
    they have left."""
    kept = [i for i in items if i.pos not in refs or i.conversation_id in conversations]
    now = {i.id: i for i in kept if isinstance(i, Message)}  # read with the page
    wanted = {(i.conversation_id, refs[i.pos][1]): refs[i.pos][0] for i in kept
              if i.pos in refs and refs[i.pos][0] not in now}
    now.update(await _messages_now(db, wanted))
    out: list[Message | Receipt | ChatEvent] = []
    for item in kept:
        if isinstance(item, ChatEvent) and item.pos in refs:
            mid, seq = refs[item.pos]
            message = now.get(mid)
            if message is None or message.seq != seq or not message.visible_to(user_id):
                continue  # gone, or stored again at another seq (a retried send): gone too
            item = replace(item, message=message)
        out.append(item)
    return out


RUN_GAP = 8  # seqs this close are read as one range: a range costs the embedded store
# far less a message than `$in` does an id (docs/performance.md), so a few unwanted are cheaper
RUN_MIN = 4  # wanted seqs in a run for a range read of its own; shorter runs go by id
IN_CHUNK = 100  # ids per `$in` read
READS_AT_ONCE = 8  # `_messages_now` reads in flight, so a page spread over many
# conversations queues its reads here, not as hundreds at once at the store


async def _messages_now(db: ChatCollections, wanted: dict[tuple[str, int], str]
                        ) -> dict[str, Message]:
    """Message id -> the stored message, for (conversation id, seq) -> id. Runs of at least
    `RUN_MIN` close seqs are read as a seq range, the others by id a chunk at a time: the
    embedded store answers one long `$in` in time that grows with its square, and a range
    costs it a fraction of a lookup per message (docs/performance.md, "Replayed changes
    carry the message as it is now"). Not read: `terms` and `audience` (up to a group's
    members), which the frame does not carry; `hidden_for` decides, and the event's own
    audience already chose who is replayed it."""
    reads: list[dict[str, Any]] = []
    single: list[str] = []
    for cid, seqs in _by_conversation(wanted).items():
        run = [seqs[0]]
        for seq in [*seqs[1:], None]:
            if seq is not None and seq - run[-1] <= RUN_GAP:
                run.append(seq)
                continue
            if len(run) >= RUN_MIN:
                reads.append({"conversation_id": cid,
                              "seq": {"$gte": run[0], "$lte": run[-1]}})
            else:
                single += [wanted[cid, s] for s in run]
            run = [seq] if seq is not None else []
    reads += [{"_id": {"$in": single[i:i + IN_CHUNK]}} for i in range(0, len(single),
                                                                    IN_CHUNK)]
    at_once = asyncio.Semaphore(READS_AT_ONCE)

    async def read(query: dict[str, Any]) -> list[dict[str, Any]]:
        async with at_once:
            return await collect(db.messages.find(query,
                                                  projection={"terms": 0, "audience": 0}))

    found = await asyncio.gather(*(read(q) for q in reads))
    # Kept only where found at the wanted seq, so a range and an id read agree on a message
    # stored again under its id at another seq (sends.py, a retried send).
    return {d["_id"]: message_of(d) for docs in found for d in docs
            if wanted.get((d["conversation_id"], d["seq"])) == d["_id"]}


def _by_conversation(wanted: dict[tuple[str, int], str]) -> dict[str, list[int]]:
    seqs: dict[str, list[int]] = {}
    for cid, seq in sorted(wanted):
        seqs.setdefault(cid, []).append(seq)
    return seqs


async def _events_since(db: ChatCollections, user_id: int, since: int, head: int, limit: int
                        ) -> tuple[list[Receipt | ChatEvent], dict[int, tuple[str, int]]]:
    """The user's events with since < pos <= head in `pos` order, the lowest `limit` + 1 of
    them if there are more (so the caller sees the page is cut), and the position -> id and
    seq of the message of each event that carries one (left out of the event: `_as_now`).

    Read a document at a time, stopping once more than `limit` items are kept: a bundle
    holds up to a room's members' receipts, so reading `limit` + 1 documents whole could
    decode hundreds of thousands of receipts to keep `limit` (docs/performance.md)."""
    # A bundle of receipts (codec.py `receipts_doc`) is found by its highest position and
    # may begin at or below `since`: only its receipts past it are replayed. None is above
    # `head`: a bundle is one document, stored whole or not at all; its positions are taken
    # together, none between them by another write, and the head moves only to a stored
    # write's highest (positions.py), so never inside a bundle. Stopping once more than
    # `limit` items are kept skips none: the documents come in `pos` order and their
    # intervals are disjoint, so every item of a document not read is above every one kept,
    # and the page is cut below them. The query's `limit` + 1 documents always get there:
    # each gives at least one item (its highest position is in the window).
    events: list[Receipt | ChatEvent] = []
    refs: dict[int, tuple[str, int]] = {}
    async with db.events.find({"audience": user_id, "pos": {"$gt": since, "$lte": head}},
                              projection=STREAM_PROJECTION
                              ).sort("pos", ASCENDING).limit(limit + 1) as cursor:
        async for d in cursor:
            found, ref = stream_refs_of(d)
            events += [item for item in found if since < item.pos <= head]
            if ref is not None:
                refs[d["pos"]] = ref
            if len(events) > limit:
                break  # leaving the block closes the cursor: no later batch is fetched
    return events[:limit + 1], refs


async def _messages_since(db: ChatCollections, summaries: Summaries,
                          mine: list[SummaryBuffer], user_id: int, since: int, head: int,
                          older_to: int, limit: int, elsewhere: dict[str, _Ends]
                          ) -> tuple[list[Message], bool, set[str]]:
    """The user's messages with since < pos <= head, whether there may be more than
    `limit`, and the user's conversations.

    Through the user's current conversations: one removed from a conversation no longer
    reads it, so its messages are not replayed (the removal event is). `audience` (who was a
    member when it was sent) and `hidden_for` still decide, checked here rather than in the
    query: a clause beyond the conversation and its seq range made the embedded store read
    the whole history of the user's conversations (docs/performance.md). Past `older_to`
    each conversation whose last message is past `since` is read by seq
    (conversation_since.py); up to it, an older release may have left seqs out of position
    order, so those positions are read by position (`by_position`)."""
    ids = [d["_id"] async for d in db.conversations.find(
        {"member_ids": user_id}, projection={"_id": 1})]
    states = [d async for d in db.states.find(
        {"_id": {"$in": ids}},
        projection={"last_message.pos": 1, "last_seq": 1, "last_pos": 1})]
    unwritten = summaries.unwritten(mine)  # after the read too: see `Summaries.unwritten`
    ordered_since = max(since, older_to)
    cids = []
    reads = []
    for d in states:
        ends = _ends(unwritten, d).joined(elsewhere.get(d["_id"], _Ends()))
        if ends.pos <= ordered_since:
            continue
        top = max(ends.seq, summaries.highest_seq(d["_id"]) or 0)
        cids.append(d["_id"])
        reads.append(by_seq(db, d["_id"], ordered_since, head, limit, top))
    older = by_position(db, set(ids), since, older_to, limit)
    found = await asyncio.gather(older, *reads)
    pages = found[0]
    for cid, page in zip(cids, found[1:]):
        pages[cid] = pages.get(cid, []) + page  # positions past those read by position
    more = any(len(page) > limit for page in pages.values())
    msgs = [message_of(d) for page in pages.values() for d in page[:limit + 1]
            if user_id in d.get("audience", ()) and user_id not in d.get("hidden_for", ())]
    return msgs, more, set(ids)


@dataclass(frozen=True)
class _Ends:
    """Where a conversation ends, as far as known: its newest position and a lower bound
    of its highest seq."""

    pos: int = 0
    seq: int = 0

    def joined(self, other: _Ends) -> _Ends:
        return _Ends(max(self.pos, other.pos), max(self.seq, other.seq))


async def _unwritten_elsewhere(db: ChatCollections, since: int, head: int
                               ) -> dict[str, _Ends]:
    """Conversation id -> where it ends, for the messages whose summaries another process
    (the writer) may not have written yet: those past the summary checkpoint, at most a
    flush interval of them. Read before the states: a flush landing in between writes
    states and checkpoint together, so every message past `since` is counted by the one or
    the other."""
    found = await db.meta.find_one({"_id": CHECKPOINT_ID})
    floor = max(since, found["pos"] if found else 0)
    last: dict[str, _Ends] = {}
    async for d in db.messages.find({"pos": {"$gt": floor, "$lte": head}},
                                    projection={"conversation_id": 1, "pos": 1, "seq": 1}):
        cid = d["conversation_id"]
        last[cid] = last.get(cid, _Ends()).joined(_Ends(d["pos"], d["seq"]))
    return last


def _ends(unwritten: list[SummaryBuffer], d: dict[str, Any]) -> _Ends:
    """Where the conversation of `d` (a stored summary) ends, counting the summaries not
    written yet. Its newest position is not only its last message's: a message moved to
    the head by an older release keeps its older seq (documents.py `moved`), so its
    position is kept apart (`last_pos`, `SummaryBuffer.moved`)."""
    cid = d["_id"]
    ends = _Ends(max((d.get("last_message") or {}).get("pos", 0), d.get("last_pos", 0)),
                 d.get("last_seq", 0))
    for buffer in unwritten:
        held = buffer.last.get(cid)
        if held is not None:
            ends = ends.joined(_Ends(max(held.pos, buffer.moved.get(cid, 0)), held.seq))
    return ends
