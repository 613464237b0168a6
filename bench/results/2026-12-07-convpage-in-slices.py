"""The embedded store's cost of reading 1,200 states by id: one $in of all (the old read of
conversations_of) against slices of 25-400 ids, in turn and gathered. Run from the worktree:
flock /tmp/bench.lock .venv/bin/python bench/results/2026-12-07-convpage-in-slices.py"""
import asyncio, time, sys
sys.path.insert(0, '.')
from pymongo import AsyncMongoClient
from bench.conversation_pages import seed
from bench.embedded import throwaway_stores
from nirvana.wiring.stores import init_documents

async def t(name, coro_fn, n=10):
    await coro_fn()
    xs=[]
    for _ in range(n):
        s=time.perf_counter(); await coro_fn(); xs.append((time.perf_counter()-s)*1000)
    xs.sort(); print(f"{name:40} {xs[len(xs)//2]:8.1f} ms")

async def states_all_in(db, ids):
    return [d async for d in db.chat_conversation_state.find(
        {"_id": {"$in": ids}}, projection={"last_activity": 1})]


async def main():
    with throwaway_stores("cp-parts-") as stores:
        client = AsyncMongoClient(stores.mongodb_url)
        await init_documents(client, "cp")
        db = client["cp"]
        await seed(db, 1200)
        ids = [d["_id"] async for d in db.chat_conversations.find({"member_ids": 1}, projection={"_id": 1})]
        async def ids_read():
            return [d["_id"] async for d in db.chat_conversations.find({"member_ids": 1}, projection={"_id": 1})]
        async def states_in():
            return [d async for d in db.chat_conversation_state.find({"_id": {"$in": ids}}, projection={"last_activity": 1})]
        async def states_in200():
            return [d async for d in db.chat_conversation_state.find({"_id": {"$in": ids[:200]}})]
        async def convs_in200():
            return [d async for d in db.chat_conversations.find({"_id": {"$in": ids[:200]}})]
        async def states_all():
            return [d async for d in db.chat_conversation_state.find({}, projection={"last_activity": 1})]
        async def convs_all_proj():
            return [d async for d in db.chat_conversations.find({"member_ids": 1}, projection={"_id": 1, "member_ids": 1})]
        await t("states $in 1200 (activity)", lambda: states_all_in(db, ids))
        for size in (25, 50, 100, 200, 400):
            async def chunked(size=size):
                out = []
                for i in range(0, len(ids), size):
                    out += [d async for d in db.chat_conversation_state.find({"_id": {"$in": ids[i:i+size]}}, projection={"last_activity": 1})]
                return out
            async def gathered(size=size):
                parts = await asyncio.gather(*[db.chat_conversation_state.find({"_id": {"$in": ids[i:i+size]}}, projection={"last_activity": 1}).to_list() for i in range(0, len(ids), size)])
                return parts
            await t(f"states $in chunks of {size}, in turn", chunked)
            await t(f"states $in chunks of {size}, gathered", gathered)
        await client.close()
asyncio.run(main())
