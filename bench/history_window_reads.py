"""Four ways to read one window of a history page for a reader who deleted most of it for
themselves, on the embedded MongoDB-wire store: what storage/mongo/history.py chose.

    .venv/bin/python -m bench.history_window_reads [--rounds 7]

One conversation of 5,000 messages; the reader deleted seqs 101-4,990 for themselves. Each
way reads the newest 50 visible messages of a window of seqs and must return the same:

- all:        find the window ascending, decode every document, keep the visible (cf11de8);
- descending: find it newest first, batches of 51, stop at 50 visible;
- projection: find {seq, hidden_for} newest first, then the chosen seqs whole;
- stage:      aggregate: the seq range, then hidden_for as a stage of its own, sort, limit
              (the store filters; only the page comes back).

Prints the median wall ms and this process's CPU ms per window (the event loop's share).
Measures; asserts only that the four agree.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import datetime, timezone
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient

from nirvana.domain.chat.entities import Message, MessageKind
from nirvana.storage.mongo.codec import message_doc, message_id, message_of
from nirvana.wiring.stores import init_documents

from .embedded import throwaway_stores

N, READER, NEED = 5000, 2, 50
HIDDEN = range(101, 4991)
WINDOWS = [(4900, 5001), (3000, 5001), (1800, 5001), (0, 5001)]  # exclusive bounds


async def seed(db: Any) -> None:
    now = datetime.now(timezone.utc)
    docs = [message_doc(Message(
        id=message_id(1, f"c-{seq}"), conversation_id="c", seq=seq, pos=seq, sender_id=1,
        client_id=f"c-{seq}", kind=MessageKind.TEXT, text="see you at the meeting tomorrow " * 3,
        attachments=(), reply_to=None, created_at=now, audience=(1, READER),
        hidden_for=(READER,) if seq in HIDDEN else ())) for seq in range(1, N + 1)]
    for i in range(0, N, 1000):
        await db.chat_messages.insert_many(docs[i:i + 1000], ordered=False)


def _range(above: int, below: int) -> dict[str, Any]:
    return {"conversation_id": "c", "seq": {"$gt": above, "$lt": below}}


async def read_all(db: Any, above: int, below: int) -> list[Message]:
    cursor = db.chat_messages.find(_range(above, below)).sort("seq", ASCENDING)
    return [message_of(d) async for d in cursor
            if READER not in d.get("hidden_for", ())][-NEED:]


async def descending(db: Any, above: int, below: int) -> list[Message]:
    cursor = db.chat_messages.find(_range(above, below)).sort("seq", DESCENDING).batch_size(
        NEED + 1)
    found: list[Message] = []
    async for d in cursor:
        if READER not in d.get("hidden_for", ()):
            found.append(message_of(d))
            if len(found) == NEED:
                break
    await cursor.close()
    return found[::-1]


async def projection(db: Any, above: int, below: int) -> list[Message]:
    cursor = db.chat_messages.find(_range(above, below), projection={
        "seq": 1, "hidden_for": 1}).sort("seq", DESCENDING)
    seqs: list[int] = []
    async for d in cursor:
        if READER not in d.get("hidden_for", ()):
            seqs.append(d["seq"])
            if len(seqs) == NEED:
                break
    await cursor.close()
    whole = db.chat_messages.find({"conversation_id": "c", "seq": {"$in": seqs}}).sort(
        "seq", ASCENDING)
    return [message_of(d) async for d in whole] if seqs else []


async def stage(db: Any, above: int, below: int) -> list[Message]:
    cursor = await db.chat_messages.aggregate([
        {"$match": _range(above, below)}, {"$match": {"hidden_for": {"$ne": READER}}},
        {"$sort": {"seq": -1}}, {"$limit": NEED}])
    return [message_of(d) async for d in cursor][::-1]


WAYS = {"all": read_all, "descending": descending, "projection": projection, "stage": stage}


async def run(rounds: int) -> None:
    with throwaway_stores("history-window-reads-") as stores:
        client: AsyncMongoClient = AsyncMongoClient(stores.mongodb_url)
        await init_documents(client, "history_window_reads")
        db = client["history_window_reads"]
        await seed(db)
        print(f"window of the {N:,}-message conversation: median wall ms / this process's "
              f"CPU ms, {rounds} rounds")
        print(f"  {'window':14}" + "".join(f"{w:>16}" for w in WAYS))
        for above, below in WINDOWS:
            wall: dict[str, list[float]] = {w: [] for w in WAYS}
            cpu: dict[str, list[float]] = {w: [] for w in WAYS}
            for r in range(rounds + 1):  # the first round warms up
                pages = []
                for way, read in WAYS.items():
                    started, used = time.perf_counter(), time.process_time()
                    pages.append([m.seq for m in await read(db, above, below)])
                    if r:
                        wall[way].append((time.perf_counter() - started) * 1000)
                        cpu[way].append((time.process_time() - used) * 1000)
                assert all(p == pages[0] for p in pages), (above, below)
            cells = "".join(f"{statistics.median(wall[w]):7.1f} / {statistics.median(cpu[w]):5.1f}"
                            .rjust(16) for w in WAYS)
            print(f"  {f'({above}, {below})':14}{cells}")
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    asyncio.run(run(parser.parse_args().rounds))


if __name__ == "__main__":
    main()
