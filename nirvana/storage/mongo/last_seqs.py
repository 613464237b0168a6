"""The highest stored seq of conversations, read for the writer's numbering (sends.py), and
the floors of those reads that conversation reads leave for it (`SeqFloors`)."""

from __future__ import annotations

import asyncio
from typing import Callable, Iterable

from pymongo import DESCENDING

from .collections import ChatCollections

LAST_SEQ_READS = 16  # conversations whose highest seq is read at once (`read_last_seqs`)
# Floors kept (`SeqFloors`): a conversation is read on every cache miss of the domain's, and
# its first send follows its read at once, so only the newest few are worth keeping.
MAX_FLOORS = 1000


class SeqFloors:
    """Per conversation, the stored `last_seq` a read of it saw (chat_store.py), taken by
    the writer's next read of its highest seq instead of reading the state again: the same
    value, read a moment earlier. The range read from a floor finds the seq the state's
    would have found while two things hold: the state's `last_seq` never goes down (the
    summary flush raises it with `$max`: summary_buffer.py), and the message at it stays
    stored.
    Messages are deleted only by the writer's take-backs (sends.py `_sort_out`; erasure
    and delete-for-everyone leave tombstones), which delete only messages their batch
    numbered and never answered, and this tenure summarises only answered ones (`settle`).
    A later tenure's `recover` summarises whatever is stored past the checkpoint, so an
    earlier tenure's take-back must not land after it: the tenure check before each ask
    (`_until_answered`) and the store's fence on the delete (fence.py `writes`) see to
    that. Leading again at the epoch it held (the lease keeps a holder's epoch), this
    process raises the token to the same epoch, and where the deployment cannot fence
    there is no token check at all, so a take-back asked before the lead may pass: `recover`
    reads only once every write holding or awaiting the fence's turn has ended (fence.py
    `drained`), and a later ask is refused by its tenure check. That is this process's
    take-backs; another process's late one is refused by the store's fence, except where
    the deployment cannot fence, where only the lease orders the two (docs/cluster-chat.md,
    "What is still not fenced"): a floor offered between a flush and such a take-back
    could then number the deleted message's seq again. Its batch then fails, and
    every floor goes with it (below). An earlier tenure's insert still on its way at such a
    lead may land unsummarised (docs/cluster-chat.md, Failover): the state's `last_seq`
    then lags, which the range read from the floor finds past.
    With nothing at or above the floor, the floor itself is recorded as the highest seq,
    as the state's `last_seq` was before floors (a floor is never above the state's). The
    state may lag the messages: the range read, not the floor, gives the seq otherwise.
    A floor lives within one tenure and one run of seqs the writer knows: every forgetting
    of seqs drops them all (sends.py `forget_seqs`: a lead, a follow, a failed batch, a
    seq another writer may hold), and a conversation's floor goes when its seq is read
    or forgotten (`drop`), so a floor offered while its read was under way is not kept."""

    def __init__(self, kept: int = MAX_FLOORS) -> None:
        self._kept = kept
        self._floors: dict[str, int] = {}

    def offer(self, conversation_id: str, last_seq: int) -> None:
        held = self._floors.pop(conversation_id, last_seq)  # re-added: the newest
        self._floors[conversation_id] = max(held, last_seq)
        while len(self._floors) > self._kept:
            del self._floors[next(iter(self._floors))]

    def take(self, conversation_ids: Iterable[str]) -> dict[str, int]:
        """The floors held of these conversations, dropped: each serves one read."""
        return {cid: self._floors.pop(cid) for cid in conversation_ids if cid in self._floors}

    def drop(self, conversation_ids: Iterable[str]) -> None:
        for cid in conversation_ids:
            self._floors.pop(cid, None)

    def clear(self) -> None:
        self._floors.clear()

    def __len__(self) -> int:
        return len(self._floors)


async def read_last_seqs(db: ChatCollections, missing: list[str], hints: SeqFloors,
                         fence: Callable[[], None],
                         record: Callable[[dict[str, int]], None]) -> None:
    """`record` the highest stored seq of each of `missing`, a group at a time. The
    summary's last_seq is a lower bound (it may lag the messages); from it, the
    (conversation_id, seq) index finds the rest in one short range instead of a scan of the
    history. The summaries are read only of conversations `hints` holds no floor of."""
    floors = hints.take(missing)
    unread = [cid for cid in missing if cid not in floors]
    if unread:
        floors.update({d["_id"]: d.get("last_seq", 0) async for d in db.states.find(
            {"_id": {"$in": unread}}, projection={"last_seq": 1})})

    async def load(cid: str) -> int:
        floor = floors.get(cid, 0)
        d = await db.messages.find_one(
            {"conversation_id": cid, "seq": {"$gte": floor}},
            sort=[("seq", DESCENDING)], projection={"seq": 1})
        return d["seq"] if d else floor

    # A few at a time, not one after another: the first batch after a start holds every
    # active conversation, and the writer waits for all of them. A group is recorded only
    # once every read of it has ended, and not at all if one failed, so no read outliving a
    # failed batch writes a seq the next batch already passed.
    for i in range(0, len(missing), LAST_SEQ_READS):
        group = missing[i:i + LAST_SEQ_READS]
        seqs = await asyncio.gather(*(load(cid) for cid in group), return_exceptions=True)
        for seq in seqs:
            if isinstance(seq, BaseException):
                raise seq
        fence()  # read before a lead: not this tenure's to number from
        record(dict(zip(group, seqs)))
