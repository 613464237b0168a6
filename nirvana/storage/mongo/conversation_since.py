"""One conversation's messages past a stream position, read by seq (resume, resume.py).

Why by seq: the (conversation_id, seq) index is the one the messages need anyway (unique
seqs, history pages); an index on (conversation_id, pos) as well cost every send's commit
on the embedded store (docs/performance.md, "Resume by seq").

Why that is right: the writer gives each message its conversation's next seq and the next
position together, in queue order, and never stores a message elsewhere than where it was
numbered: an insert with no answer is asked again until answered, nothing else committed
meanwhile, and a take-back numbers the message again above everything (sends.py). So past
the position where this release began to write (`upgrade.SEQ_ORDER_ID`), a conversation's
seqs and positions grow together, and its messages past `since` are exactly those above one
seq (`s_lo`, the highest whose position is at most `since`): a few bounded seq reads find
them. Older releases left messages out of that order (moved to the head with an older seq,
or a late insert landing below a seq reused meanwhile); resume reads those by position
(`by_position`).

Every read is a bounded seq range (or open above only past the known top): the embedded
store reads every message a range allows before it sorts and limits (history.py).
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING

from .collections import ChatCollections, collect

TOP_READ = 8  # seqs below the known top read whole first: most resumes need no more
PROBES = 16  # seqs probed per read while searching down for `s_lo`
SPAN = 64  # a bracket this narrow is read whole rather than probed again
POS_ONLY = {"seq": 1, "pos": 1}


async def by_seq(db: ChatCollections, cid: str, since: int, head: int, limit: int,
                 top: int) -> list[dict[str, Any]]:
    """The first `limit` + 1 messages of `cid` with since < pos <= head, in position order,
    for a `since` at or past where seq order holds (see the module docstring). `top`: a
    lower bound of its highest seq (messages past it may exist, so the top read is open
    above)."""
    lo = max(top - TOP_READ, 0)
    tail = await collect(db.messages.find(
        {"conversation_id": cid, "seq": {"$gt": lo}}).sort("seq", ASCENDING))
    if lo == 0 or any(d["pos"] <= since for d in tail):
        return _window(tail, since, head, limit)
    # Every message read is past `since`: `s_lo` is below them.
    above = await _search_down(db, cid, since, tail[0]["seq"] if tail else lo + 1)
    found: list[dict[str, Any]] = []
    width = SPAN + limit + 1
    while above < lo and len(_window(found, since, head, limit)) <= limit:
        below = min(above + width, lo)
        found += await collect(db.messages.find(
            {"conversation_id": cid, "seq": {"$gt": above, "$lte": below}}).sort(
                "seq", ASCENDING))
        if found and found[-1]["pos"] > head:
            break  # the rest are past the head too
        above, width = below, width * 2  # a gap (refused sends): wider
    return _window(found + tail, since, head, limit)


async def _search_down(db: ChatCollections, cid: str, since: int, hi: int) -> int:
    """A seq at or below `s_lo` and at most SPAN below it (0 when none is known): galloping
    probes down from `hi` (whose message is past `since`), then probes spread over the
    bracket; each read is one `$in` on the unique index, a document per probe."""
    probes, step = [], 1
    while hi - step > 1:
        probes.append(hi - step)
        step *= 2
    probes.append(1)
    p, q = 0, hi
    while True:
        found = {d["seq"]: d["pos"] async for d in db.messages.find(
            {"conversation_id": cid, "seq": {"$in": probes}}, projection=POS_ONLY)}
        p = max([p, *(s for s, pos in found.items() if pos <= since)])
        q = min([q, *(s for s, pos in found.items() if pos > since and s > p)])
        if q - p <= SPAN or not found:  # narrow enough, or a gap: read the bracket whole
            return p
        probes = sorted({p + (q - p) * i // (PROBES + 1) for i in range(1, PROBES + 1)})


def _window(docs: list[dict[str, Any]], since: int, head: int, limit: int
            ) -> list[dict[str, Any]]:
    inside = [d for d in docs if since < d["pos"] <= head]
    inside.sort(key=lambda d: d["pos"])
    return inside[:limit + 1]


async def by_position(db: ChatCollections, ids: set[str], since: int, upto: int, limit: int
                      ) -> dict[str, list[dict[str, Any]]]:
    """Conversation id (of `ids`) -> its first `limit` + 1 messages with since < pos <=
    upto, in position order: for positions an older release wrote, where seqs may be out
    of position order. One read through the (pos) index, every conversation's messages in
    the range (resume.py bounds it, `OLDER_SPAN`)."""
    pages: dict[str, list[dict[str, Any]]] = {}
    if since >= upto:
        return pages
    async for d in db.messages.find({"pos": {"$gt": since, "$lte": upto}}):
        if d["conversation_id"] in ids:
            pages.setdefault(d["conversation_id"], []).append(d)
    for page in pages.values():
        page.sort(key=lambda d: d["pos"])
        del page[limit + 1:]
    return pages
