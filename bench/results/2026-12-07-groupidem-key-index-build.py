"""Time the (idempotency_key) sparse unique index build on chat_conversations of N groups."""
import asyncio, sys, tempfile, time, uuid
from datetime import datetime, timezone
from pathlib import Path
from pymongo import AsyncMongoClient
from nirvana.storage.embedded import EmbeddedMongo
from nirvana.storage.mongo.documents import KEY_INDEX, ConversationDoc

async def main(url, n):
    c = AsyncMongoClient(url)
    col = c["b"]["chat_conversations"]
    await col.create_indexes([i for i in ConversationDoc.Settings.indexes if i is not KEY_INDEX])
    now = datetime.now(timezone.utc)
    for start in range(0, n, 5000):
        docs = []
        for i in range(start, min(n, start + 5000)):
            cid = uuid.uuid4().hex
            mem = [i % 5000 + 1, i % 5000 + 2, i % 5000 + 3, i % 5000 + 4]
            docs.append({"_id": cid, "kind": "group", "direct_key": f"group:{cid}",
                         "member_ids": mem, "members": [{"user_id": m, "role": "member"} for m in mem],
                         "created_by": mem[0], "created_at": now, "name": f"group {i}",
                         "description": None, "avatar_url": None})
        await col.insert_many(docs)
    for run in range(2):
        t = time.perf_counter()
        await col.create_indexes([KEY_INDEX])
        took = time.perf_counter() - t
        print(f"{n} conversations: build {took*1000:.0f} ms (run {run+1})", flush=True)
        await col.drop_index(KEY_INDEX.document["name"])
    await c.close()

n = int(sys.argv[1])
m = EmbeddedMongo(Path(tempfile.mkdtemp()) / "mongo", durable=True)
url = m.start()
try:
    asyncio.run(main(url, n))
finally:
    m.stop()
