"""Chat send throughput through the one domain path (validation, membership, group commit).

    .venv/bin/python bench/chat_send.py [messages] [concurrency]

Starts throwaway embedded PostgreSQL and MongoDB-wire servers (durable commits on, as in
run.py), sends `messages` messages from `concurrency` concurrent senders, prints msgs/s and
how many store round trips (batches) served them; then the ceiling: the same documents, with
the same indexes, inserted raw with `insert_many` in batches of the size the writer formed.
Measures; asserts nothing.

Measured here (shared 2-core machine, 3000 messages, 200 senders, one conversation): before
the write-path work 117 msgs/s sequential, 276 msgs/s concurrent (~97 per batch, ~330 ms per
batch: 276 ms of it the idempotency `$in` over a secondary index). After: 94–146 sequential,
1,340–2,130 concurrent, 0.65–0.89x of the raw same-shape rate of the same run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time
from pathlib import Path

# Its command line is `python bench/chat_send.py`, which puts bench/ on the path, not the tree
# that holds `bench` (only `nirvana` is installed): added here, as bench/volatile_nirvana.py does.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nirvana.bootstrap import build_services
from nirvana.wiring.stores import open_stores
from nirvana.settings import Settings
from nirvana.storage.mongo.codec import message_doc, message_id
from nirvana.storage.mongo.documents import MessageDoc

from bench.embedded import throwaway_stores


async def raw_rate(services, sample, count: int, batch: int) -> float:
    """Docs/s of the writer's insert shape straight to the store: no Nirvana in the way."""
    coll = services.mongo[services.settings.mongodb_db]["bench_raw_messages"]
    await coll.drop()
    await coll.create_indexes(MessageDoc.Settings.indexes)
    docs = [message_doc(dataclasses.replace(sample, id=message_id(0, f"r{i}"),
                                            client_id=f"r{i}", seq=i + 1, pos=10**7 + i))
            for i in range(count)]
    t = time.perf_counter()
    for i in range(0, count, batch):
        await coll.insert_many(docs[i:i + batch], ordered=False)
    return count / (time.perf_counter() - t)


async def run(database_url: str, mongodb_url: str, data_dir: Path, n: int,
              concurrency: int) -> None:
    settings = Settings(data_dir=data_dir, mongodb_db="bench")
    pool, mongo = await open_stores(settings, database_url=database_url,
                                    mongodb_url=mongodb_url)
    services = build_services(settings, pool, mongo, secret="b" * 48)
    ids = [await pool.fetchval("INSERT INTO users (email, username, name) VALUES "
                               "($1, $1, 'B') RETURNING id", f"b{i}@x.io") for i in range(2)]
    await pool.execute("INSERT INTO friendships VALUES ($1, $2), ($2, $1)", *ids)
    chat = services.chat
    conv = await chat.open_direct(*ids)
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            await chat.send_message(ids[i % 2], conv.id, client_id=f"c{i}", text="hello")

    rate = per_batch = 0.0
    for label, count, conc in (("sequential", min(n, 300), 1), ("concurrent", n, concurrency)):
        sem = asyncio.Semaphore(conc)
        before, t = services.chat_store.batches, time.perf_counter()
        await asyncio.gather(*(one(i + (0 if label == "sequential" else 10**6))
                               for i in range(count)))
        took = time.perf_counter() - t
        batches = services.chat_store.batches - before
        rate, per_batch = count / took, count / max(batches, 1)
        print(f"{label:10} {count:6} msgs  concurrency {conc:4}  {rate:8.0f} msgs/s  "
              f"{batches} batches ({per_batch:.1f} msgs/batch)")
    sample = (await chat.history(ids[0], conv.id, limit=1))[0]
    raw = await raw_rate(services, sample, n, max(1, round(per_batch)))
    print(f"raw insert_many, same docs and indexes, batches of {round(per_batch)}: "
          f"{raw:8.0f} docs/s  -> concurrent sends at {rate / raw:.2f}x of it")
    await services.close()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    with throwaway_stores("nirvana-bench-", postgres=True) as stores:
        asyncio.run(run(stores.database_url, stores.mongodb_url, stores.root / "data", n,
                        concurrency))


if __name__ == "__main__":
    main()
