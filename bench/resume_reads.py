"""What one conversation's resume read costs the embedded store: by position through the
(conversation_id, pos) index (before issue 22's "Resume by seq"), by seq without it (now,
storage/mongo/conversation_since.py `by_seq`), and by position through the (pos) index
(`by_position`: the positions an older release wrote, read so for a week after an
upgrade).

    .venv/bin/python -m bench.resume_reads [--rounds 20]

One conversation of 20,000 messages, every other position another conversation's (the
store holds only this one: the reads never touch the others, so `by_position`'s figure is
a floor: it reads every conversation's messages in its range). Windows: a short one (the
newest 5 messages) and a long backlog (all but the first 1,000), each with the limit of 50
and with the default resume window (5,000). Prints the store's CPU ms per read (its
process, bench.servers.tree_cpu_seconds) and the median wall ms, the ways alternated per
round. Measures; asserts only that the ways agree.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient

from nirvana.storage.mongo.collections import collect
from nirvana.storage.mongo.conversation_since import by_position, by_seq

from .embedded import throwaway_stores
from .servers import tree_cpu_seconds

N = 20_000
WINDOWS = {"short, limit 50": (2 * (N - 5), 50), "short, limit 5000": (2 * (N - 5), 5000),
           "backlog, limit 50": (2 * 1000, 50), "backlog, limit 5000": (2 * 1000, 5000)}


@dataclass
class _Db:
    messages: Any


async def seed(coll: Any) -> None:
    now = datetime.now(timezone.utc)
    docs = [{"_id": f"m{seq}", "conversation_id": "c", "seq": seq, "pos": 2 * seq,
             "sender_id": 1, "client_id": f"k{seq}", "kind": "text",
             "text": "see you at the meeting tomorrow " * 3, "attachments": [],
             "reply_to": None, "created_at": now, "audience": [1, 2]}
            for seq in range(1, N + 1)]
    for i in range(0, N, 1000):
        await coll.insert_many(docs[i:i + 1000], ordered=False)


async def _before(coll: Any, since: int, head: int, limit: int) -> list[dict[str, Any]]:
    """Resume's read before issue 22's "Resume by seq" (resume.py then)."""
    return await collect(coll.find({"conversation_id": "c", "pos": {"$gt": since,
                                                                    "$lte": head}}).sort(
        "pos", ASCENDING).limit(limit + 1))


async def _older(coll: Any, since: int, head: int, limit: int) -> list[dict[str, Any]]:
    return (await by_position(_Db(coll), {"c"}, since, head, limit)).get("c", [])


async def run(rounds: int) -> None:
    with throwaway_stores("resume-reads-") as stores:
        client: AsyncMongoClient = AsyncMongoClient(stores.mongodb_url)
        db = client["resume_reads"]
        indexed, plain = db["indexed"], db["plain"]
        for coll in (indexed, plain):  # as documents.py declares, then and now
            await coll.create_index([("conversation_id", ASCENDING), ("seq", ASCENDING)],
                                    unique=True)
            await coll.create_index([("pos", DESCENDING)])
            await seed(coll)
        await indexed.create_index([("conversation_id", ASCENDING), ("pos", ASCENDING)])
        head = 2 * N
        ways = {
            "by pos, indexed (before)": lambda s, n: _before(indexed, s, head, n),
            "by seq (now)": lambda s, n: by_seq(_Db(plain), "c", s, head, n, N),
            "by (pos), older positions": lambda s, n: _older(plain, s, head, n),
        }
        print(f"one conversation of {N:,} messages; store CPU ms per read / median wall ms, "
              f"{rounds} rounds")
        print(f"  {'window':22}" + "".join(f"{w:>32}" for w in ways))
        for name, (since, limit) in WINDOWS.items():
            cpu: dict[str, float] = {w: 0.0 for w in ways}
            wall: dict[str, list[float]] = {w: [] for w in ways}
            for r in range(rounds + 1):  # the first round warms up
                pages = []
                for way, read in ways.items():
                    used, started = tree_cpu_seconds([stores.mongo_pid]), time.perf_counter()
                    pages.append([d["_id"] for d in await read(since, limit)])
                    if r:
                        wall[way].append((time.perf_counter() - started) * 1000)
                        cpu[way] += tree_cpu_seconds([stores.mongo_pid]) - used
                assert all(p == pages[0] for p in pages), name
            cells = "".join(
                f"{cpu[w] * 1000 / len(wall[w]):9.2f} / {statistics.median(wall[w]):7.2f}"
                .rjust(32) for w in ways)
            print(f"  {name:22}{cells}")
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    asyncio.run(run(parser.parse_args().rounds))


if __name__ == "__main__":
    main()
