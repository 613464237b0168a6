"""What a read receipt costs the embedded store with instances: fenced in one transaction
(fence.py `writes`) against the two plain commits it took before (the mark's update, then
the stamped receipt event).

    .venv/bin/python -m bench.receipt_cost [--receipts 300] [--rounds 4]

Starts a throwaway embedded store (durable commits, as run.py runs it), leads a chat
store at epoch 1 (the fence raised, documents stamped) and records `receipts` read
receipts one after another through the real writer, each raising a mark, per mode; modes
alternate within each round. Measures the store process's CPU time (user + system,
/proc/<pid>/stat) and this process's, per receipt, and the wall time. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from pymongo import AsyncMongoClient

from nirvana.domain.chat.entities import ReceiptKind
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.collections import ChatCollections
from nirvana.wiring.stores import init_documents

from .embedded import throwaway_stores
from .servers import cpu_seconds

MODES = ("two commits", "one transaction")
AUDIENCE = tuple(range(1, 11))


async def receipts_cost(store: MongoChatStore, pid: int, mode: str, count: int,
                        first_seq: int) -> tuple[float, float, float]:
    # The instance path as it was: without the fence's transaction, its update and its
    # stamped insert commit one by one (a private switch: this is a bench, not a test).
    store.fence._transactions.supported = mode == "one transaction"
    server, client, wall = cpu_seconds(pid), time.process_time(), time.perf_counter()
    for i in range(count):
        receipt = await store.record_receipt(f"c{i % 10}", 1, ReceiptKind.READ,
                                             first_seq + i, AUDIENCE)
        assert receipt is not None
    per = 1e6 / count
    return ((cpu_seconds(pid) - server) * per, (time.process_time() - client) * per,
            (time.perf_counter() - wall) * per)


async def run(args: argparse.Namespace) -> None:
    with throwaway_stores("receipt-cost-") as stores:
        mongo: AsyncMongoClient = AsyncMongoClient(stores.mongodb_url, tz_aware=True)
        await init_documents(mongo, "receipt_cost")
        await ChatCollections().states.insert_many([{"_id": f"c{i}"} for i in range(10)])
        store = MongoChatStore()
        await store.lead(lambda: True, 1)
        results: dict[str, list[tuple[float, float, float]]] = {m: [] for m in MODES}
        seq = 1
        await receipts_cost(store, stores.mongo_pid, MODES[1], 50, seq)  # warm up
        seq += 50
        for r in range(args.rounds):
            for mode in MODES if r % 2 == 0 else reversed(MODES):
                results[mode].append(await receipts_cost(store, stores.mongo_pid, mode,
                                                         args.receipts, seq))
                seq += args.receipts
            print(f"round {r + 1} of {args.rounds} done", flush=True)
        await store.close()
        await mongo.close()
    print(f"\n{args.receipts} receipts per mode and round, {args.rounds} rounds; "
          "µs per receipt, median (min-max)")
    print(f"  {'mode':18} {'store CPU':>20} {'client CPU':>20} {'wall':>22}")
    for mode in MODES:
        cols = [[x[k] for x in results[mode]] for k in range(3)]
        print(f"  {mode:18} " + " ".join(
            f"{statistics.median(c):>8.0f} ({min(c):.0f}-{max(c):.0f})".rjust(20)
            for c in cols))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--receipts", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=4)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
