"""Probe: does the embedded store enforce a unique partial (created_by, idempotency_key) index
and a unique sparse (idempotency) one, and how long a lookup by each takes over 50,000 docs."""
import asyncio, tempfile, time
from pathlib import Path
from pymongo import AsyncMongoClient, IndexModel, ASCENDING
from pymongo.errors import DuplicateKeyError
from nirvana.storage.embedded import EmbeddedMongo

async def main(url):
    c = AsyncMongoClient(url)
    db = c["probe"]
    for name, idx in [("partial", IndexModel([("created_by", 1), ("idempotency_key", 1)], unique=True,
                            partialFilterExpression={"idempotency_key": {"$exists": True}})),
                      ("sparse1", IndexModel([("idempotency", 1)], unique=True, sparse=True))]:
        col = db[name]
        await col.create_indexes([idx])
        print(name, await col.index_information())
        # many docs without key
        await col.insert_many([{"_id": f"n{i}", "created_by": 1} for i in range(3)])
        f = "idempotency_key" if name == "partial" else "idempotency"
        v = "k" if name == "partial" else "1:k"
        await col.insert_one({"_id": "a", "created_by": 1, f: v})
        try:
            await col.insert_one({"_id": "b", "created_by": 1, f: v})
            print(name, "DUPLICATE ACCEPTED")
        except DuplicateKeyError as e:
            print(name, "dup refused", e.details.get("keyValue") if e.details else None)
        await col.insert_one({"_id": "c", "created_by": 2, f: "k" if name=="partial" else "2:k"})
        print(name, "count", await col.count_documents({}))
    # timing of lookup with many docs
    for name, q in [("partial", {"created_by": 1, "idempotency_key": "zz"}), ("sparse1", {"idempotency": "1:zz"})]:
        col = db[name]
        await col.insert_many([{"created_by": i % 100, "x": "y" * 200} for i in range(50000)])
        t = time.perf_counter()
        for _ in range(5):
            await col.find_one(q)
        print(name, "lookup ms", (time.perf_counter() - t) / 5 * 1000)
    await c.close()

m = EmbeddedMongo(Path(tempfile.mkdtemp()) / "mongo", durable=False)
url = m.start()
try:
    asyncio.run(main(url))
finally:
    m.stop()
