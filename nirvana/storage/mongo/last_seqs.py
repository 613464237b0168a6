"""The highest stored seq of conversations, read for the writer's numbering (sends.py)."""

from __future__ import annotations

import asyncio
from typing import Callable

from pymongo import DESCENDING

from .collections import ChatCollections

LAST_SEQ_READS = 16  # conversations whose highest seq is read at once (`read_last_seqs`)


async def read_last_seqs(db: ChatCollections, missing: list[str],
                         fence: Callable[[], None],
                         record: Callable[[dict[str, int]], None]) -> None:
    """`record` the highest stored seq of each of `missing`, a group at a time. The
    summary's last_seq is a lower bound (it may lag the messages); from it, the
    (conversation_id, seq) index finds the rest in one short range instead of a scan of the
    history."""
    floors = {d["_id"]: d.get("last_seq", 0) async for d in db.states.find(
        {"_id": {"$in": missing}}, projection={"last_seq": 1})}

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
