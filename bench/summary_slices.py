"""What a summary flush costs the embedded store whole, and cut into slices.

    .venv/bin/python -m bench.summary_slices [--conversations 100] [--slices 1,2,5,10,20]
                                             [--rounds 5] [--repeat 10] [--timeline 0]

Starts a throwaway embedded store (durable commits, as run.py runs it) with `conversations`
conversation states of 10 members, and writes their summaries (one message each since the
last flush) as `summaries.py` does: each slice one transaction of its state updates and
the checkpoint. Per way of cutting, the store process's CPU time (user + system) for the
whole flush, per conversation, and for one slice: the work that lands at once on the
core the server shares. Shapes alternate within each round; the table gives the median
and the spread over the rounds. Then the live shape (`--timeline S`): `Summaries` itself
for S seconds, its conversations kept dirty at 1,000 messages/s, with 1 and 10 slices
alternated, the store's CPU sampled every 100 ms: the busiest 100 ms, and the total.
Measures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

from pymongo import AsyncMongoClient, UpdateOne

from nirvana.storage.mongo.codec import message_doc, message_of
from nirvana.storage.mongo.one_commit import OneCommit
from nirvana.storage.mongo.summaries import CHECKPOINT_ID, Summaries
from nirvana.storage.mongo.summary_buffer import SummaryBuffer

from .embedded import throwaway_stores
from .servers import tree_cpu_seconds
from .store_cost import MEMBERS, messages


async def flush_in_slices(db: Any, pid: int, conversations: int, slices: int,
                          round_: int, repeat: int) -> tuple[float, float]:
    """(store CPU ms of the whole flush, of one slice), each the mean over `repeat` flushes
    (the kernel counts CPU time in 10 ms ticks)."""
    total = 0.0
    for n in range(repeat):
        total += await _one_flush(db, pid, conversations, slices, round_ * repeat + n)
    return total / repeat, total / repeat / slices


async def _fresh_states(db: Any, conversations: int) -> Any:
    states = db["bench_states"]
    await states.drop()
    await states.insert_many([
        {"_id": f"conv{c:04d}", "last_seq": 0, "last_message": None,
         "last_activity": datetime.now(timezone.utc),
         "marks": {str(c * MEMBERS + k + 1): {"read": 0, "delivered": 0}
                   for k in range(MEMBERS)}} for c in range(conversations)])
    return states


async def timeline(db: Any, pid: int, conversations: int, slices: int, seconds: float,
                   seed: int) -> tuple[float, float]:
    """(the store's busiest 100 ms, its total CPU ms) while `Summaries` runs as the writer
    drives it: every 10 ms ten new messages, spread over the conversations."""
    await _fresh_states(db, conversations)
    summaries = Summaries(SimpleNamespace(states=db["bench_states"], meta=db["bench_meta"]),
                          interval=5.0, share=0.2, slices=slices)
    docs = messages(int(seconds * 1000) + 10, "words", seed, seed * 100_000 + 1)
    samples = [tree_cpu_seconds([pid])]
    started = time.monotonic()

    async def sample() -> None:
        while True:
            await asyncio.sleep(0.1)
            samples.append(tree_cpu_seconds([pid]))

    sampler = asyncio.create_task(sample())
    for i in range(0, len(docs), 10):
        for d in docs[i:i + 10]:
            summaries.add(message_of(d))
        summaries.flush_soon()
        await asyncio.sleep(max(0.0, started + (i + 10) / 1000 - time.monotonic()))
        if time.monotonic() - started > seconds:
            break
    await summaries.stop()
    sampler.cancel()
    windows = [(b - a) * 1000 for a, b in zip(samples, samples[1:])]
    return max(windows), (samples[-1] - samples[0]) * 1000


async def _one_flush(db: Any, pid: int, conversations: int, slices: int, seed: int) -> float:
    states = await _fresh_states(db, conversations)
    # Enough messages that every conversation has some; the buffer keeps each one's last.
    buffer = SummaryBuffer()
    for d in messages(conversations * 8, "words", seed, seed * conversations * 8 + 1):
        buffer.add(message_of(d))
    ids = list(buffer.last)
    per = -(-len(ids) // slices)
    total = 0.0
    one_commit = OneCommit()
    for start in range(0, len(ids), per):
        part, _ = buffer.split(ids[start:start + per])
        top = max(m.pos for m in part.last.values())
        before = tree_cpu_seconds([pid])
        await one_commit.write([
            (states, part.operations(message_doc)),
            (db["bench_meta"], [UpdateOne({"_id": CHECKPOINT_ID},
                                          {"$max": {"pos": top}}, upsert=True)])])
        total += (tree_cpu_seconds([pid]) - before) * 1000
    return total


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):6.1f} ({min(values):.1f}-{max(values):.1f})"


async def run(args: argparse.Namespace) -> None:
    with throwaway_stores("summary-slices-") as stores:
        pid = stores.mongo_pid
        client: AsyncMongoClient = AsyncMongoClient(stores.mongodb_url)
        db = client["summary_slices"]
        await flush_in_slices(db, pid, args.conversations, 1, 99, 2)  # warm the store
        results: dict[int, list[tuple[float, float]]] = {}
        for r in range(args.rounds):
            order = args.slices if r % 2 == 0 else list(reversed(args.slices))
            for k in order:
                results.setdefault(k, []).append(
                    await flush_in_slices(db, pid, args.conversations, k, r, args.repeat))
        lines: dict[int, list[tuple[float, float]]] = {}
        if args.timeline:
            for r in range(args.rounds):
                for k in ((1, 10) if r % 2 == 0 else (10, 1)):
                    lines.setdefault(k, []).append(
                        await timeline(db, pid, args.conversations, k, args.timeline, r))
        await client.close()
    print(f"{args.conversations} conversations, {args.rounds} rounds; store CPU, median "
          "(min-max)")
    print(f"  {'slices':>6} {'whole flush ms':>22} {'µs per conversation':>24} "
          f"{'one slice ms':>22}")
    for k in args.slices:
        runs = results[k]
        print(f"  {k:>6} {spread([t for t, _ in runs]):>22} "
              f"{spread([t * 1000 / args.conversations for t, _ in runs]):>24} "
              f"{spread([b for _, b in runs]):>22}")
    if lines:
        print(f"\nlive, {args.timeline:g} s at 1,000 messages/s: store CPU ms")
        print(f"  {'slices':>6} {'busiest 100 ms':>22} {'total':>22}")
        for k, runs in lines.items():
            print(f"  {k:>6} {spread([m for m, _ in runs]):>22} "
                  f"{spread([t for _, t in runs]):>22}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--slices", type=lambda s: [int(k) for k in s.split(",")],
                        default=[1, 2, 5, 10, 20])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=10, help="flushes per measurement")
    parser.add_argument("--timeline", type=float, default=0.0,
                        help="seconds of the live shape per pass (0: not measured)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
