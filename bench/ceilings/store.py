"""Ceiling for the chat write path: the MongoDB-wire store's raw write rate, single inserts
and insert_many batches, straight to a secantusd started for the bench as run.py starts it
(--sync-on-commit), pinned to the server core. No Beanie, no Nirvana."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..servers import SERVER_CORE, affinity, cpu_seconds, pinning_available


def _message(i: int) -> dict[str, Any]:
    # About the size of a stored chat message.
    return {"conversation_id": f"c{i % 100}", "sender_id": i % 1000, "seq": i,
            "body": "hello there, this is a chat message of ordinary length " * 2,
            "created_at": time.time()}


def _rate(insert, docs_per_call: int, duration: float, max_calls: int) -> dict[str, float]:
    calls = 0
    start = time.perf_counter()
    while calls < max_calls and time.perf_counter() - start < duration:
        insert(calls)
        calls += 1
    elapsed = time.perf_counter() - start
    return {"docs_per_s": calls * docs_per_call / elapsed, "docs": calls * docs_per_call,
            "seconds": elapsed}


def measure(data_dir: Path, duration: float, batch: int = 100) -> dict[str, Any]:
    """Docs/s for sequential insert_one and for insert_many of `batch` docs."""
    from pymongo import MongoClient

    from nirvana.storage.embedded import EmbeddedMongo

    mongo = EmbeddedMongo(data_dir / "mongo", durable=True)
    with affinity(SERVER_CORE if pinning_available() is None else None):
        url = mongo.start()
    try:
        client = MongoClient(url)
        db = client["bench_raw"]
        db.single.insert_one({"warm": True})
        pid = mongo._proc.pid if mongo._proc else None  # noqa: SLF001 — bench-only look
        cpu0 = cpu_seconds(pid) if pid else 0.0
        single = _rate(lambda i: db.single.insert_one(_message(i)), 1, duration, 100_000)
        cpu1 = cpu_seconds(pid) if pid else 0.0
        batched = _rate(
            lambda i: db.batched.insert_many([_message(i * batch + j) for j in range(batch)]),
            batch, duration, 10_000)
        cpu2 = cpu_seconds(pid) if pid else 0.0
        client.close()
        single["store_cpu_us_per_doc"] = (cpu1 - cpu0) * 1e6 / max(1, single["docs"])
        batched["store_cpu_us_per_doc"] = (cpu2 - cpu1) * 1e6 / max(1, batched["docs"])
        return {"single": single, "batched": batched, "batch": batch,
                "sync_on_commit": True}
    finally:
        mongo.stop()
