"""last_seen writes are buffered and written together (nirvana/storage/mongo/presence.py)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from nirvana.storage.mongo.presence import ABORTS_BEFORE_WARNING, MongoPresenceStore


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


async def test_a_write_of_the_same_users_by_another_instance_delays_the_flush_without_a_warning(
        services, settings, caplog):
    """Two instances flushing last_seen of one user at the same moment: the store aborts one
    transaction (WriteConflict). That one keeps its batch, says why at info level, and its next
    flush writes it; the later time wins whichever landed first."""
    caplog.set_level(logging.INFO, logger="nirvana.presence")
    store = MongoPresenceStore(interval=3600)
    coll = services.mongo[settings.mongodb_db]["chat_presence"]
    t0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    await store.save_last_seen(1, t0 + timedelta(seconds=2))
    await store.save_last_seen(2, t0)
    other = services.mongo  # the other instance: its own session and transaction
    async with other.start_session() as session:
        async with await session.start_transaction():
            await coll.update_one({"_id": 1}, {"$max": {"last_seen": t0}}, upsert=True,
                                  session=session)
            await store.flush()  # meets the other's write, still uncommitted
            assert (await store.last_seen([1, 2])) == {1: t0 + timedelta(seconds=2), 2: t0}
    said = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "nirvana.presence"]
    assert [level for level, _ in said] == [logging.INFO], said
    assert "another instance wrote some of them" in said[0][1] and "code 112" in said[0][1]
    await store.flush()
    assert {d["_id"]: d["last_seen"] async for d in coll.find({"_id": {"$in": [1, 2]}})} == {
        1: t0 + timedelta(seconds=2), 2: t0}
    await store.close()


async def test_a_flush_aborted_again_and_again_becomes_a_warning_naming_a_held_transaction(
        services, settings, caplog):
    """A transaction left open on the same users (an instance killed or paused inside its
    flush) aborts every flush: the first few are info lines, then one warning says so; the
    flush after the transaction ends writes the batch and says it landed."""
    caplog.set_level(logging.INFO, logger="nirvana.presence")
    store = MongoPresenceStore(interval=3600)
    coll = services.mongo[settings.mongodb_db]["chat_presence"]
    t0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    await store.save_last_seen(1, t0 + timedelta(seconds=2))
    await store.save_last_seen(2, t0)
    async with services.mongo.start_session() as session:
        async with await session.start_transaction():
            await coll.update_one({"_id": 1}, {"$max": {"last_seen": t0}}, upsert=True,
                                  session=session)
            for _ in range(ABORTS_BEFORE_WARNING + 1):
                await store.flush()
    said = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "nirvana.presence"]
    levels = [level for level, _ in said]
    assert levels == [logging.INFO] * (ABORTS_BEFORE_WARNING - 1) + [logging.WARNING], said
    assert (f"aborted {ABORTS_BEFORE_WARNING} times in a row" in said[-1][1]
            and "killed or paused instance" in said[-1][1]), said
    caplog.clear()
    await store.flush()
    said = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "nirvana.presence"]
    assert said == [(logging.INFO, "presence write of 2 users landed after "
                     f"{ABORTS_BEFORE_WARNING + 1} aborted flushes")], said
    assert {d["_id"]: d["last_seen"] async for d in coll.find({"_id": {"$in": [1, 2]}})} == {
        1: t0 + timedelta(seconds=2), 2: t0}
    # The count starts again once a flush landed: the next abort is an info line again.
    caplog.clear()
    await store.save_last_seen(1, t0 + timedelta(seconds=3))
    async with services.mongo.start_session() as session:
        async with await session.start_transaction():
            await coll.update_one({"_id": 1}, {"$set": {"last_seen": t0}}, session=session)
            await store.flush()
    said = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "nirvana.presence"]
    assert [level for level, _ in said] == [logging.INFO], said
    await store.close()
