"""What a stored chat message costs the embedded MongoDB-wire store, part by part.

    .venv/bin/python -m bench.store_cost [--docs 2000] [--batch 1,32] [--rounds 3]
                                         [--text bench,words] [--only NAME,...] [--alone 300]

Starts a throwaway embedded store (durable commits, as run.py runs it), and for each
variant of the message document and its indexes inserts `docs` realistic messages (100
conversations of 10 members, seqs and positions as the writer gives them) in unordered
batches of `batch`, into a fresh collection, measuring the store process's own CPU time
(user + system, /proc/<pid>/stat) and this client's, per message. CPU time is far less
sensitive to a shared machine's load than wall time. Variants alternate within each round;
the table gives the median and the spread over the rounds. `--text bench` is the load
generator's message (80 x's: one search term), `words` a sentence of 12-20 words. Some
variants keep the documents and indexes and change the request instead (one `insert`
command, ordered, `j: true`, in a transaction).

Also measured: a summary flush's state update per conversation (one transaction, as
`summaries.py` writes them). Measures; asserts nothing.

    .venv/bin/python -m bench.store_cost --latency [--rate 500] [--seconds 4] [--rounds 3]

`--latency`: one send's commit at light load, per index set. Single-document inserts at a
fixed rate over one raw wire connection (the `insert` command the writer sends,
`wire.py`), one at a time; per variant the round trip's p50 / p90 (from the write to the
reply) and the store's CPU per insert. The message document as `codec.message_doc` builds
it (the first `--text`, by default the load generator's), with the indexes `MessageDoc`
declares, without each secondary index in turn, with the seed peer's one index; and the
peer's own document and index (bench/peer/server.js). The store's threads and this process
share SERVER_CORE, as the server side shares it in `make bench`. Each run fills a fresh
collection; variants alternate, forward then reversed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any, Callable

import bson
from bson import ObjectId
from pymongo import ASCENDING, AsyncMongoClient, IndexModel, UpdateOne
from pymongo.uri_parser import parse_uri

from nirvana.domain.chat.entities import Message, MessageKind
from nirvana.storage.mongo.codec import message_doc, message_id
from nirvana.storage.mongo.documents import MessageDoc
from nirvana.storage.mongo.fence import validator
from nirvana.storage.mongo.one_commit import OneCommit
# The writer's own connection (private to wire.py): the bench measures the round trip
# every send at light load waits for, so it goes the same way.
from nirvana.storage.mongo.wire import _Wire

from .embedded import throwaway_stores
from .servers import SERVER_CORE, affinity, pinning_available, tree_cpu_seconds

CONVERSATIONS = 100
MEMBERS = 10
WORDS = ("the a to and of i you it is in that for on we be this have are with not was at "
         "what but so just can do me my your if all about get will out up know one like "
         "time when there how see now meeting tomorrow lunch today call later thanks great "
         "sounds good send file picture project deadline review draft weekend coffee train "
         "home office team plan idea question answer morning evening friday monday ready "
         "sorry late soon okay yes maybe sure think need want look nice love work").split()

Doc = dict[str, Any]
Variant = tuple[list[IndexModel], Callable[[Doc], Doc]]


def _same(d: Doc) -> Doc:
    return d


def _without(*fields: str) -> Callable[[Doc], Doc]:
    def strip(d: Doc) -> Doc:
        return {k: v for k, v in d.items() if k not in fields}
    return strip


def _defaults_left_out(d: Doc) -> Doc:
    """Fields whose value is the default a reader assumes when they are missing."""
    return {k: v for k, v in d.items()
            if not (k in ("reply_to", "edited_at") and v is None)
            and not (k in ("attachments", "hidden_for", "terms") and v == [])
            and not (k == "deleted" and v is False)}


def _stamped(d: Doc) -> Doc:
    return {**d, "epoch": 7}


def _index(*keys: tuple[str, int], unique: bool = False) -> IndexModel:
    return IndexModel(list(keys), unique=unique)


STORED = list(MessageDoc.Settings.indexes)
CONV_SEQ = _index(("conversation_id", ASCENDING), ("seq", ASCENDING), unique=True)
CONV_POS = _index(("conversation_id", ASCENDING), ("pos", ASCENDING))
POS = _index(("pos", -1))
UNIQUE_POS = _index(("pos", -1), unique=True)
TERMS = _index(("terms", ASCENDING))

VARIANTS: dict[str, Variant] = {
    "as stored": (STORED, _same),
    "no terms index": ([CONV_SEQ, CONV_POS, POS], _same),
    "no terms at all": ([CONV_SEQ, CONV_POS, POS], _without("terms")),
    "no (pos) index": ([CONV_SEQ, CONV_POS, TERMS], _same),
    "no (conv, pos) index": ([CONV_SEQ, POS, TERMS], _same),
    "(conv, seq) not unique": ([_index(("conversation_id", ASCENDING), ("seq", ASCENDING)),
                                CONV_POS, POS, TERMS], _same),
    "defaults left out": (STORED, _defaults_left_out),
    "no audience": (STORED, _without("audience")),
    "_id only (whole doc)": ([], _same),
    "_id only (no terms)": ([], _without("terms")),
    # The same documents sent as one `insert` command instead of pymongo's `insert_many`
    # (the client column is the difference: this process's encoding of a batch).
    "as stored via insert command": (STORED, _same),
    # Request shapes that could change what the store does per document (it turned out
    # none does: docs/performance.md, "The store's index catalog"): an ordered batch, one
    # that asks for the journal, and one inside a multi-document transaction.
    "as stored (ordered)": (STORED, _same),
    "as stored (j: true)": (STORED, _same),
    "as stored (in a transaction)": (STORED, _same),
    # Fencing a deposed chat writer (docs/cluster-chat.md): a unique (pos) index, or each
    # document stamped with the writer's epoch and the validator refusing older epochs
    # (fence.py); "no epoch": one process's documents where instances once ran.
    "(pos) unique": ([CONV_SEQ, CONV_POS, UNIQUE_POS], _same),
    "epoch stamped": (STORED, _stamped),
    "epoch stamped + validator": (STORED, _stamped),
    "no epoch + validator": (STORED, _same),
}
# The insert command's fields beside `documents` for the request-shape variants.
COMMAND_FIELDS: dict[str, Doc] = {
    "as stored via insert command": {"ordered": False},
    "as stored (ordered)": {"ordered": True},
    "as stored (j: true)": {"ordered": False, "writeConcern": {"w": 1, "j": True}},
}
IN_A_TRANSACTION = {"as stored (in a transaction)"}
# A collection validator set on the variant's collection (collMod) before it is filled.
VALIDATORS = {
    "epoch stamped + validator": validator(7),
    "no epoch + validator": validator(7),
}


def messages(n: int, text: str, seed: int, first_pos: int,
             spacing: timedelta = timedelta(0)) -> list[Doc]:
    rng = random.Random(seed)
    seqs = [0] * CONVERSATIONS
    first = datetime.now(timezone.utc)
    docs = []
    for i in range(n):
        c = rng.randrange(CONVERSATIONS)
        seqs[c] += 1
        members = tuple(c * MEMBERS + k + 1 for k in range(MEMBERS))
        sender = rng.choice(members)
        body = ("x" * 80 if text == "bench"
                else " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 20))))
        client_id = f"{seed}-{i}"
        docs.append(message_doc(Message(
            id=message_id(sender, client_id), conversation_id=f"conv{c:04d}", seq=seqs[c],
            pos=first_pos + i, sender_id=sender, client_id=client_id, kind=MessageKind.TEXT,
            text=body, attachments=(), reply_to=None, created_at=first + i * spacing,
            audience=members)))
    return docs


async def insert_cost(db: Any, pid: int, variant: Variant, docs: list[Doc], batch: int,
                      collection: str, name: str) -> tuple[float, float]:
    """(store, client) CPU µs per message of inserting `docs` in batches of `batch`."""
    indexes, shape = variant
    coll = db[collection]
    await coll.drop()
    if indexes:
        await coll.create_indexes(indexes)
    await coll.insert_one({"_id": "warm"})
    if name in VALIDATORS:
        await db.command({"collMod": collection, "validator": VALIDATORS[name],
                          "validationLevel": "moderate"})
    shaped = [shape(d) for d in docs]
    store, client = tree_cpu_seconds([pid]), time.process_time()
    for i in range(0, len(shaped), batch):
        part = shaped[i:i + batch]
        # A batch of one goes as the writer sends it (sends.py `_insert_alone`).
        if len(part) == 1 or name in COMMAND_FIELDS:
            await db.command({"insert": collection, "documents": part,
                              **COMMAND_FIELDS.get(name, {"ordered": False})})
        elif name in IN_A_TRANSACTION:
            async with db.client.start_session() as session:
                async with await session.start_transaction():
                    await coll.insert_many(part, ordered=False, session=session)
        else:
            await coll.insert_many(part, ordered=False)
    store, client = tree_cpu_seconds([pid]) - store, time.process_time() - client
    await coll.drop()
    return store * 1e6 / len(docs), client * 1e6 / len(docs)


async def flush_cost(db: Any, pid: int, conversations: int) -> float:
    """Store CPU µs per conversation of one summary flush over `conversations` states."""
    states = db["bench_states"]
    await states.drop()
    await states.insert_many([
        {"_id": f"conv{c:04d}", "last_seq": 0, "last_message": None,
         "last_activity": datetime.now(timezone.utc),
         "marks": {str(c * MEMBERS + k + 1): {"read": 0, "delivered": 0}
                   for k in range(MEMBERS)}} for c in range(conversations)])
    last = messages(conversations, "words", 7, 1)
    ops = [UpdateOne({"_id": f"conv{c:04d}", "last_seq": {"$lte": 5}},
                     {"$max": {"last_seq": 5, f"marks.{c * MEMBERS + 1}.read": 5,
                               f"marks.{c * MEMBERS + 1}.delivered": 5},
                      "$set": {"last_message": last[c],
                               "last_activity": datetime.now(timezone.utc)}})
           for c in range(conversations)]
    before = tree_cpu_seconds([pid])
    await OneCommit().write([(states, ops)])
    return (tree_cpu_seconds([pid]) - before) * 1e6 / conversations


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):7.0f} ({min(values):.0f}-{max(values):.0f})"


async def run(args: argparse.Namespace) -> None:
    with throwaway_stores("store-cost-") as stores:
        pid = stores.mongo_pid
        client: AsyncMongoClient = AsyncMongoClient(stores.mongodb_url)
        db = client["store_cost"]
        names = [n for n in VARIANTS if not args.only or n in args.only]
        results: dict[tuple[str, str, int], list[tuple[float, float]]] = {}
        flushes: list[float] = []
        for r in range(args.rounds):
            for text in args.text:
                for batch in args.batch:
                    # A batch of one waits for its own fsync: fewer of them, same figure.
                    count = args.docs if batch > 1 else min(args.docs, args.alone)
                    docs = messages(count, text, seed=r, first_pos=r * args.docs + 1)
                    order = names if r % 2 == 0 else list(reversed(names))
                    for name in order:
                        cost = await insert_cost(db, pid, VARIANTS[name], docs, batch,
                                                 "bench_messages", name)
                        results.setdefault((text, name, batch), []).append(cost)
            flushes.append(await flush_cost(db, pid, CONVERSATIONS))
            print(f"round {r + 1} of {args.rounds} done", flush=True)
        await client.close()
    print(f"\n{args.docs} messages per variant ({min(args.docs, args.alone)} in batches of "
          f"one), {args.rounds} rounds; CPU µs per stored message, median (min-max)")
    for text in args.text:
        for batch in args.batch:
            print(f"\ntext={text} batch={batch}")
            print(f"  {'variant':28} {'store':>20} {'client':>20}")
            for name in names:
                runs = results[(text, name, batch)]
                print(f"  {name:28} {spread([s for s, _ in runs]):>20} "
                      f"{spread([c for _, c in runs]):>20}")
    print(f"\nsummary flush, {CONVERSATIONS} state updates in one transaction: store "
          f"{spread(flushes)} µs per conversation")


def _peer_doc(d: Doc) -> Doc:
    """The same message as the seed peer's Mongoose schema stores it (bench/peer/server.js:
    an ObjectId, `timestamps: true`, the version key)."""
    return {"_id": ObjectId(), "conversationId": d["conversation_id"],
            "senderId": str(d["sender_id"]), "clientId": d["client_id"], "text": d["text"],
            "createdAt": d["created_at"], "updatedAt": d["created_at"], "__v": 0}


def _keys(index: IndexModel) -> str:
    return "(" + ", ".join(index.document["key"]) + ")"


def latency_variants() -> dict[str, Variant]:
    """Read from `MessageDoc`, so the bench follows the declared indexes."""
    variants: dict[str, Variant] = {"as stored": (STORED, _same)}
    for index in STORED:
        variants[f"without {_keys(index)}"] = ([i for i in STORED if i is not index], _same)
    variants["the peer's index"] = (
        [_index(("conversation_id", ASCENDING), ("created_at", ASCENDING))], _same)
    variants["the peer's doc and index"] = (
        [_index(("conversationId", ASCENDING), ("createdAt", ASCENDING))], _peer_doc)
    return variants


async def round_trips(wire: _Wire, collection: str, docs: list[Doc],
                      rate: float) -> tuple[list[float], list[float]]:
    """One insert every 1/rate s: seconds from each one's write to its reply, and how late
    each was written (the loop's timers wake up to a millisecond late; kept apart, so the
    round trip is the store's alone)."""
    bodies = [bson.encode({"insert": collection, "documents": [d], "ordered": False,
                           "$db": "store_cost"}) for d in docs]
    took, late = [], []
    start = time.perf_counter() + 0.05
    for i, body in enumerate(bodies):
        due = start + i / rate
        if due > time.perf_counter():
            await asyncio.sleep(due - time.perf_counter())
        sent = time.perf_counter()
        reply = await wire.command(body)
        took.append(time.perf_counter() - sent)
        late.append(sent - due)
        if not reply.get("ok") or reply.get("writeErrors"):
            raise RuntimeError(f"insert into {collection} refused: {reply}")
    return took, late


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_latency(args: argparse.Namespace) -> None:
    variants = latency_variants()
    count = int(args.rate * args.seconds)
    with throwaway_stores("store-latency-") as stores:
        pid = stores.mongo_pid
        client: AsyncMongoClient = AsyncMongoClient(stores.mongodb_url)
        db = client["store_cost"]
        # A fresh collection per run, all made before the first is timed.
        for r in range(args.rounds):
            for v, (indexes, _) in enumerate(variants.values()):
                if indexes:
                    await db[f"latency_{v}_{r}"].create_indexes(indexes)
        host, port = parse_uri(stores.mongodb_url)["nodelist"][0]
        _, wire = await asyncio.get_running_loop().create_connection(
            partial(_Wire, 10.0), host, port)
        results: dict[str, list[tuple[float, float, float, float]]] = {n: [] for n in variants}
        try:
            for r in range(args.rounds):
                docs = messages(count, args.text[0], seed=r, first_pos=r * count + 1,
                                spacing=timedelta(seconds=1 / args.rate))
                order = list(variants) if r % 2 == 0 else list(reversed(variants))
                for name in order:
                    v = list(variants).index(name)
                    shaped = [variants[name][1](d) for d in docs]
                    collection = f"latency_{v}_{r}"
                    await round_trips(wire, collection, [{"_id": "warm"}], args.rate)
                    before = tree_cpu_seconds([pid])
                    took, late = await round_trips(wire, collection, shaped, args.rate)
                    store = (tree_cpu_seconds([pid]) - before) * 1e6 / count
                    results[name].append((_quantile(took, 0.5) * 1e3,
                                          _quantile(took, 0.9) * 1e3, store,
                                          _quantile(late, 0.5) * 1e3))
                print(f"round {r + 1} of {args.rounds} done", flush=True)
        finally:
            wire.close()
            await client.close()
        cores = sorted({c for t in Path(f"/proc/{pid}/task").iterdir()
                        for c in os.sched_getaffinity(int(t.name))})
    print(f"\n{count} single-document inserts per variant and round ({args.rate:g}/s, one "
          f"connection), {args.rounds} rounds, text={args.text[0]}; the store's threads on "
          f"cores {cores}, this process on {sorted(os.sched_getaffinity(0))}")
    print("round trip (write to reply) ms, store CPU µs per insert, and how late the "
          "inserts were written (p50, ms; not in the round trip): median over the rounds "
          "(min-max)")
    base = statistics.median(run[0] for run in results["as stored"])
    print(f"  {'variant':32} {'p50':>19} {'p90':>19} {'store CPU':>15} {'p50 - as stored':>16}"
          f" {'written late':>12}")
    for name, runs in results.items():
        p50s, p90s, stores_, lates = zip(*runs)
        print(f"  {name:32} {_ms(p50s):>19} {_ms(p90s):>19} {spread(list(stores_)):>15} "
              f"{statistics.median(p50s) - base:>+16.3f} {statistics.median(lates):>12.3f}")


def _ms(values: tuple[float, ...]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.2f}-{max(values):.2f})"


def variant_names(text: str) -> list[str]:
    """The variants a comma-separated list names; a name may hold commas itself."""
    names, name = [], ""
    for part in text.split(","):
        name = f"{name},{part}" if name else part
        if name.strip() in VARIANTS:
            names.append(name.strip())
            name = ""
    if name:
        raise argparse.ArgumentTypeError(f"no variant named {name.strip()!r}")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--batch", type=lambda s: [int(b) for b in s.split(",")],
                        default=[1, 32])
    parser.add_argument("--alone", type=int, default=300,
                        help="messages per variant in batches of one")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--text", type=lambda s: s.split(","), default=["bench", "words"])
    parser.add_argument("--only", type=variant_names, default=None,
                        help="comma-separated variant names")
    parser.add_argument("--latency", action="store_true",
                        help="round trips of single inserts at a fixed rate, per index set")
    parser.add_argument("--rate", type=float, default=500.0, help="--latency: inserts/s")
    parser.add_argument("--seconds", type=float, default=4.0,
                        help="--latency: seconds per variant and round")
    args = parser.parse_args()
    if not args.latency:
        asyncio.run(run(args))
        return
    # The store is started inside: its threads inherit the core (bench/servers.py).
    with affinity(SERVER_CORE if pinning_available() is None else None):
        asyncio.run(run_latency(args))


if __name__ == "__main__":
    main()
