"""last_seen writes are buffered and written together (nirvana/storage/mongo/presence.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from nirvana.storage.mongo.presence import MongoPresenceStore


async def test_a_storm_of_saves_is_one_write_and_reads_see_it_before_and_after(
        services, settings):
    store = MongoPresenceStore(interval=3600)  # only explicit flushes in this test
    coll = services.mongo[settings.mongodb_db]["chat_presence"]
    t0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    for user_id in range(1, 501):
        await store.save_last_seen(user_id, t0)
    await store.save_last_seen(7, t0 + timedelta(seconds=5))
    await store.save_last_seen(7, t0 + timedelta(seconds=1))  # older: the newer one stays
    assert await coll.count_documents({}) == 0  # nothing written yet
    seen = await store.last_seen([7, 8, 9999])
    assert seen == {7: t0 + timedelta(seconds=5), 8: t0}

    await store.flush()
    assert await coll.count_documents({}) == 500
    assert (await coll.find_one({"_id": 7}))["last_seen"] == t0 + timedelta(seconds=5)
    await store.save_last_seen(8, t0 + timedelta(minutes=1))
    assert (await store.last_seen([8]))[8] == t0 + timedelta(minutes=1)  # buffer wins
    await store.close()  # a clean stop writes what is buffered
    assert (await coll.find_one({"_id": 8}))["last_seen"] == t0 + timedelta(minutes=1)
