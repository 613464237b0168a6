"""Chat send throughput through the one domain path (validation, membership, group commit).

    .venv/bin/python bench/chat_send.py [messages] [concurrency]

Starts throwaway embedded PostgreSQL and MongoDB-wire servers (durable commits on, as in
run.py), sends `messages` messages from `concurrency` concurrent senders, prints msgs/s and
how many store round trips (batches) served them. Measures; asserts nothing.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

from nirvana.bootstrap import build_services, open_stores
from nirvana.settings import Settings
from nirvana.storage.embedded import EmbeddedMongo, EmbeddedPostgres


async def run(database_url: str, mongodb_url: str, n: int, concurrency: int) -> None:
    settings = Settings(data_dir=Path(tempfile.mkdtemp()), mongodb_db="bench")
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

    for label, count, conc in (("sequential", min(n, 300), 1), ("concurrent", n, concurrency)):
        sem = asyncio.Semaphore(conc)
        before, t = services.chat_store.batches, time.perf_counter()
        await asyncio.gather(*(one(i + (0 if label == "sequential" else 10**6))
                               for i in range(count)))
        took = time.perf_counter() - t
        batches = services.chat_store.batches - before
        print(f"{label:10} {count:6} msgs  concurrency {conc:4}  {count / took:8.0f} msgs/s  "
              f"{batches} batches ({count / max(batches, 1):.1f} msgs/batch)")
    await services.close()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    root = Path(tempfile.mkdtemp(prefix="nirvana-bench-"))
    pg, mg = EmbeddedPostgres(root / "pg"), EmbeddedMongo(root / "mongo")
    try:
        asyncio.run(run(pg.start(), mg.start(), n, concurrency))
    finally:
        mg.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
