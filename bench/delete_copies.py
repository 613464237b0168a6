"""What a delete for everyone's emptying of its message's event copies costs the embedded store.

    .venv/bin/python -m bench.delete_copies [--events 100000] [--rounds 2] [--deletes 4]
                                            [--full] [--build] [--no-deletes]
                                            [--inserts 2000] [--batch 1]

Starts a throwaway embedded store (durable commits, as run.py runs it) and fills
`chat_events` as a week of chat leaves it: `events` receipt events spread evenly over 7
days (receipts are most of the events kept) and, for each message a delete will empty, a
reaction event carrying its copy a second after it. Then, per message age, the
`update_many` a delete for everyone sends (changes.py), each way alternated: by
`message._id` with no index for it (a scan); bounded by created_at (the (created_at) index,
the release before the sparse index); through a partial index of the events that carry a
message (plain, with the partial filter's condition in the query, and hinted); with
`--full`, through a full and a sparse (documents.py) index. Measured as the store process's
CPU (user + system, /proc/<pid>/stat; 10 ms ticks) and the wall time, per delete.

`--build`: what building the sparse index costs a start on an older database.
`--inserts`: what each kind of event's insert costs the store with each (message._id)
index, `inserts` events per kind in inserts of `batch`, variants alternated within each
round. Measures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel

from .embedded import throwaway_stores
from .servers import cpu_seconds

DAY = timedelta(days=1)
WEEK = 7 * DAY
# The events' indexes as documents.py declares them, without the partial one.
BASE_INDEXES = [IndexModel([("audience", ASCENDING), ("pos", ASCENDING)]),
                IndexModel([("pos", DESCENDING)]),
                IndexModel([("created_at", ASCENDING)])]
CARRIES = {"message._id": {"$exists": True}}
PARTIAL = IndexModel([("message._id", ASCENDING)], partialFilterExpression=CARRIES,
                     name="message_copies")
SPARSE = IndexModel([("message._id", ASCENDING)], sparse=True)
FULL = IndexModel([("message._id", ASCENDING)])
INSERT_VARIANTS = {"without": [], "partial": [PARTIAL], "sparse": [SPARSE], "full": [FULL]}
AGES = {"1 minute": timedelta(minutes=1), "1 day": DAY, "3 days": 3 * DAY,
        "5 days": 5 * DAY, "10 days": 10 * DAY}


def receipt(pos: int, at: datetime) -> dict[str, Any]:
    return {"pos": pos, "conversation_id": f"c{pos % 100}", "type": "receipt",
            "user_id": pos % 1000, "kind": "read", "seq": pos, "audience": [1, 2, 3],
            "created_at": at}


def copy_event(pos: int, message_id: str, at: datetime) -> dict[str, Any]:
    message = {"_id": message_id, "conversation_id": "c1", "seq": pos, "pos": pos,
               "sender_id": 1, "text": "secret " * 8, "attachments": [], "terms": ["secret"],
               "created_at": at, "deleted": False, "hidden_for": [], "reactions": {}}
    return {"pos": pos, "conversation_id": "c1", "type": "message.reacted", "user_id": 2,
            "audience": [1, 2], "created_at": at, "data": {"emoji": "+1"},
            "message": message}


async def filled(db: Any, name: str, events: int, now: datetime,
                 extra: list[IndexModel]) -> Any:
    events_of = db[name]
    await events_of.create_indexes(BASE_INDEXES + extra)
    step = WEEK / events
    batch = []
    for i in range(events):
        batch.append(receipt(i, now - WEEK + i * step))
        if len(batch) == 5000:
            await events_of.insert_many(batch)
            batch = []
    if batch:
        await events_of.insert_many(batch)
    return events_of


async def timed(pid: int, work: Any) -> tuple[float, float]:
    cpu, wall = cpu_seconds(pid), time.perf_counter()
    await work
    return (cpu_seconds(pid) - cpu) * 1000, (time.perf_counter() - wall) * 1000


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


async def deletes(client: Any, pid: int, args: argparse.Namespace) -> None:
    db = client["bench"]
    now = datetime.now(timezone.utc)
    plain = await filled(db, "plain", args.events, now, [])
    indexed = await filled(db, "partial", args.events, now, [PARTIAL])
    info = await indexed.index_information()
    print("partial index as stored:", info.get("message_copies"))
    explain = await db.command("explain", {"update": "partial", "updates": [
        {"q": {"message._id": "m"}, "u": {"$set": {"x": 1}}, "multi": True}]})
    print("explain (if any):", str(explain)[:400])
    ways: dict[str, tuple[Any, Any, str | None]] = {
        "scan": (plain, lambda m, at: {"message._id": m}, None),
        "created_at": (plain, lambda m, at: {"message._id": m,
                                             "created_at": {"$gte": at - timedelta(hours=1)}},
                       None),
        "partial": (indexed, lambda m, at: {"message._id": m}, None),
        "partial+exists": (indexed, lambda m, at: {"$and": [
            {"message._id": m}, CARRIES]}, None),
        "partial+hint": (indexed, lambda m, at: {"message._id": m}, "message_copies"),
    }
    if args.full:
        full = await filled(db, "full", args.events, now, [FULL])
        sparse = await filled(db, "sparse", args.events, now, [SPARSE])
        ways["full"] = (full, lambda m, at: {"message._id": m}, None)
        ways["sparse"] = (sparse, lambda m, at: {"message._id": m}, None)
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    pos = args.events
    for round_ in range(args.rounds):
        for age, delta in AGES.items():
            order = list(ways) if round_ % 2 == 0 else list(reversed(ways))
            for _ in range(args.deletes):
                for way in order:
                    collection, bound, hint = ways[way]
                    pos += 1
                    message_id = f"m{pos}"
                    at = now - delta
                    await collection.insert_one(copy_event(pos, message_id, at + timedelta(
                        seconds=1)))
                    update = {"$set": {"message.text": "", "message.attachments": [],
                                       "message.terms": [], "message.deleted": True}}
                    done: list[Any] = []

                    async def run(c: Any = collection, q: Any = bound(message_id, at),
                                  h: Any = hint) -> None:
                        done.append(await c.update_many(q, update, hint=h))
                    cost = await timed(pid, run())
                    assert done[0].modified_count == 1, (way, age)
                    results.setdefault((age, way), []).append(cost)
    print(f"\n{args.events} receipt events over 7 days; ms per delete, median (min-max) "
          f"of {args.rounds} rounds of {args.deletes}")
    print("| message age | way | store CPU | wall |\n|---|---|---|---|")
    for age in AGES:
        for way in ways:
            costs = results[(age, way)]
            print(f"| {age} | {way} | {summary([c for c, _ in costs])} "
                  f"| {summary([w for _, w in costs])} |")


async def inserts(client: Any, pid: int, args: argparse.Namespace) -> None:
    db = client["inserts"]
    now = datetime.now(timezone.utc)
    results: dict[tuple[str, str], list[float]] = {}
    for round_ in range(args.rounds * 2):
        variants = list(INSERT_VARIANTS) if round_ % 2 == 0 else list(
            reversed(INSERT_VARIANTS))
        for variant in variants:
            for kind in ("receipt", "copy"):
                name = f"r{round_}_{variant}_{kind}"
                await db[name].create_indexes(BASE_INDEXES + INSERT_VARIANTS[variant])
                docs = [receipt(i, now) if kind == "receipt" else copy_event(
                    i, f"m{random.getrandbits(48)}", now) for i in range(args.inserts)]
                cpu = cpu_seconds(pid)
                for i in range(0, args.inserts, args.batch):
                    await db[name].insert_many(docs[i:i + args.batch])
                per = (cpu_seconds(pid) - cpu) / args.inserts * 1e6
                results.setdefault((variant, kind), []).append(per)
                await db[name].drop()
    print(f"\nstore CPU per event inserted, µs, median (min-max) of {args.rounds * 2} runs "
          f"of {args.inserts} in batches of {args.batch}, the (message._id) index being")
    print("| event | " + " | ".join(INSERT_VARIANTS) + " |\n|---|"
          + "---|" * len(INSERT_VARIANTS))
    for kind in ("receipt", "copy"):
        print(f"| {kind} | " + " | ".join(summary(results[(v, kind)])
                                         for v in INSERT_VARIANTS) + " |")


async def build(client: Any, pid: int, args: argparse.Namespace) -> None:
    """What a start costs an older database: building the sparse index over the events kept
    (the store answers nothing else meanwhile)."""
    db = client["build"]
    now = datetime.now(timezone.utc)
    events_of = await filled(db, "events", args.events, now, [])
    for i in range(args.events // 100):  # one event in a hundred carries a message
        await events_of.insert_one(copy_event(args.events + i, f"m{i}", now))
    cpu, wall = await timed(pid, events_of.create_indexes([SPARSE]))
    print(f"\nbuilding the sparse index over {args.events} receipts and {args.events // 100} "
          f"copies: store CPU {cpu:.0f} ms, wall {wall:.0f} ms")


async def main(args: argparse.Namespace) -> None:
    with throwaway_stores("nirvana-delete-copies-") as stores:
        client: AsyncMongoClient = AsyncMongoClient(stores.mongodb_url, tz_aware=True)
        try:
            if args.build:
                await build(client, stores.mongo_pid, args)
            if not args.no_deletes:
                await deletes(client, stores.mongo_pid, args)
            if args.inserts:
                await inserts(client, stores.mongo_pid, args)
        finally:
            await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--deletes", type=int, default=4)
    parser.add_argument("--inserts", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=1, help="events per insert")
    parser.add_argument("--no-deletes", action="store_true")
    parser.add_argument("--build", action="store_true",
                        help="also time building the sparse index over `events` kept")
    parser.add_argument("--full", action="store_true",
                        help="also a full and a sparse index on message._id, for comparison")
    asyncio.run(main(parser.parse_args()))
