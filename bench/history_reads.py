"""What a chat history page costs on the embedded MongoDB-wire store: seq windows
(storage/mongo/history.py) against the open ranges read before them.

    .venv/bin/python -m bench.history_reads [--rounds 30] [--limit 50]

Starts a throwaway embedded store (durable commits, as run.py runs it) holding 100
conversations of 200 messages and one of 5,000, and times each kind of page, warm, in a
200-message and in the 5,000-message conversation: the newest page, a page `before` the
middle, a page `after` the middle, one `after` the last 10 (a client catching up), and the
worst cursors (`before` 2**63-1 and 2**53, `after` -2**53); each read as everyone reads it,
as a reader who deleted a message for themselves reads it (the `hidden_for` clause of the
open range), and as one who deleted all but the first and last 10 (a hidden run). The two
ways alternate within each round; the table gives the median and p90 in ms per page, and
the store's plans (`explain`) for the newest page of the long conversation. Measures and
checks that both ways return the same pages; asserts nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient

from nirvana.domain.chat.entities import Message, MessageKind
from nirvana.storage.mongo.codec import message_doc, message_id, message_of
from nirvana.storage.mongo.collections import ChatCollections
from nirvana.storage.mongo.history import history_page
from nirvana.wiring.stores import init_documents

from .embedded import throwaway_stores

SIZES = {**{f"c{i}": 200 for i in range(100)}, "big": 5000}
READER = 2  # a member who deleted one message for themselves (`hidden_for`)
HIDER = 3  # a member who deleted all but the first and the last 10 for themselves


async def seed(db: Any) -> None:
    now = datetime.now(timezone.utc)
    docs, pos = [], 0
    for cid, n in SIZES.items():
        for seq in range(1, n + 1):
            pos += 1
            sender = 1 + seq % 2
            m = Message(id=message_id(sender, f"{cid}-{seq}"), conversation_id=cid, seq=seq,
                        pos=pos, sender_id=sender, client_id=f"{cid}-{seq}",
                        kind=MessageKind.TEXT, text="see you at the meeting tomorrow " * 3,
                        attachments=(), reply_to=None, created_at=now, audience=(1, 2, 3),
                        hidden_for=(*((READER,) if seq == 1 else ()),
                                    *((HIDER,) if 10 < seq <= n - 10 else ())))
            docs.append(message_doc(m))
    random.Random(1).shuffle(docs)  # conversations interleave in the store, as they are sent
    for i in range(0, len(docs), 1000):
        await db.chat_messages.insert_many(docs[i:i + 1000], ordered=False)
    await db.chat_conversation_state.insert_many(
        [{"_id": cid, "last_seq": n, "last_activity": now} for cid, n in SIZES.items()])


async def open_range(db: Any, cid: str, *, before: int | None, after: int | None,
                     limit: int, hidden_for: int | None) -> list[Message]:
    """The read before seq windows (collections.messages_by_seq, as it was)."""
    query: dict[str, Any] = {"conversation_id": cid}
    if hidden_for is not None:
        query["hidden_for"] = {"$ne": hidden_for}
    if after is not None:
        cursor = db.chat_messages.find({**query, "seq": {"$gt": after}}).sort(
            "seq", ASCENDING).limit(limit)
        return [message_of(d) async for d in cursor]
    if before is not None:
        query["seq"] = {"$lt": before}
    cursor = db.chat_messages.find(query).sort("seq", DESCENDING).limit(limit)
    return list(reversed([message_of(d) async for d in cursor]))


async def windows(db: Any, cid: str, *, before: int | None, after: int | None, limit: int,
                  hidden_for: int | None) -> list[Message]:
    """As MongoChatStore.history reads: the floor from the conversation's summary."""
    async def floor() -> int:
        d = await db.chat_conversation_state.find_one({"_id": cid}, {"last_seq": 1})
        return d["last_seq"] if d else 0
    return await history_page(ChatCollections(), cid, before=before, after=after,
                              limit=limit, floor=floor, hidden_for=hidden_for)


Read = Callable[..., Awaitable[list[Message]]]


async def timed(read: Read, db: Any, cid: str, **page: Any) -> tuple[float, list[int]]:
    started = time.perf_counter()
    found = await read(db, cid, **page)
    return (time.perf_counter() - started) * 1000, [m.seq for m in found]


async def run(args: argparse.Namespace) -> None:
    with throwaway_stores("history-reads-") as stores:
        client: AsyncMongoClient = AsyncMongoClient(stores.mongodb_url)
        await init_documents(client, "history_reads")
        db = client["history_reads"]
        await seed(db)
        print(f"seeded {sum(SIZES.values()):,} messages", flush=True)
        rows: dict[tuple[str, str, str], list[float]] = {}
        pages = [("newest", {}), ("before the middle", {"before": "middle"}),
                 ("after the middle", {"after": "middle"}),
                 ("after the last 10", {"after": "last 10"}),  # a client catching up
                 ("before 2**63-1", {"before": 2 ** 63 - 1}),
                 ("before 2**53", {"before": 2 ** 53}), ("after -2**53", {"after": -2 ** 53})]
        for r in range(args.rounds + 2):  # two warm-up rounds, not counted
            for cid in ("c7", "big"):
                at_ = {"middle": SIZES[cid] // 2, "last 10": SIZES[cid] - 10}
                for name, cursor in pages:
                    for reader in (None, READER, HIDER):
                        page = {"before": None, "after": None, "limit": args.limit,
                                "hidden_for": reader,
                                **{k: at_.get(at, at) for k, at in cursor.items()}}
                        ways = [("open range", open_range), ("seq windows", windows)]
                        results = []
                        for way, read in ways if r % 2 else reversed(ways):
                            ms, seqs = await timed(read, db, cid, **page)
                            results.append(seqs)
                            if r >= 2:
                                key = (f"{SIZES[cid]:,} msgs", name,
                                       {None: "all", READER: "reader"}.get(reader, "hider"))
                                rows.setdefault((*key, way), []).append(ms)
                        assert results[0] == results[1], (cid, name, reader)
        plans = {
            "open range": db.chat_messages.find({"conversation_id": "big"}).sort(
                "seq", DESCENDING).limit(args.limit),
            "open range, a reader": db.chat_messages.find(
                {"conversation_id": "big", "hidden_for": {"$ne": READER}}).sort(
                "seq", DESCENDING).limit(args.limit),
            "seq window": db.chat_messages.find(
                {"conversation_id": "big", "seq": {"$gt": SIZES["big"] - args.limit}}).sort(
                "seq", ASCENDING)}
        explained = {name: plan_of(await cursor.explain()) for name, cursor in plans.items()}
        await client.close()
    print(f"\nms per page of {args.limit}, warm, {args.rounds} rounds: median (p90); "
          f"among {sum(SIZES.values()):,} messages in {len(SIZES)} conversations")
    print(f"  {'conversation':12} {'page':18} {'as':7} {'open range':>16} {'seq windows':>16}")
    for (size, name, who, way), _ in rows.items():
        if way != "open range":
            continue
        cells = []
        for w in ("open range", "seq windows"):
            values = sorted(rows[(size, name, who, w)])
            p90 = values[int(len(values) * 0.9) - 1]
            cells.append(f"{statistics.median(values):7.1f} ({p90:5.1f})")
        print(f"  {size:12} {name:18} {who:7} {cells[0]:>16} {cells[1]:>16}")
    print(f"\nplans, the newest page of the {SIZES['big']:,}-message conversation:")
    for name, plan in explained.items():
        print(f"  {name:22} {plan}")


def plan_of(explained: dict[str, Any]) -> str:
    """The winning plan's stages, outermost first, with the index an IXSCAN walks."""
    stage = explained.get("queryPlanner", {}).get("winningPlan", {})
    names = []
    while stage:
        names.append(stage.get("stage", "?") + (f" {stage['indexName']}"
                                                 if "indexName" in stage else ""))
        stage = stage.get("inputStage", {})
    return " < ".join(names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--limit", type=int, default=50)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
