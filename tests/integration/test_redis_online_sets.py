"""Each instance's online set and its users' states on a real redis-server
(storage/redis/online.py): what an instance writes is there, in the order written, for
whoever hears what it sent after it; a read returns the set with its states."""

from __future__ import annotations

import asyncio
import json
import secrets

import pytest

from nirvana.storage.redis.bus import RedisBus
from nirvana.storage.redis.online import RedisOnlineSets
from nirvana.storage.redis.relay import Relay
from nirvana.ws.online_sets import StoredStates, states_read
from tests.support.redis_server import redis_server  # noqa: F401 (fixture)
from tests.support.waiting import wait_until

TTL = 5.0


@pytest.fixture
async def two(redis_server):  # noqa: F811
    prefix = f"nirvana:test_{secrets.token_hex(4)}:"
    buses = [RedisBus(redis_server.url, prefix=prefix, instance_id=name) for name in "ab"]
    relays = [Relay(bus) for bus in buses]
    sets = [RedisOnlineSets(bus, relay) for bus, relay in zip(buses, relays)]
    for bus in buses:
        await bus.start()
    tasks = [asyncio.get_running_loop().create_task(r.run()) for r in relays]
    yield relays, sets
    for task in tasks:
        task.cancel()
    for bus in buses:
        await bus.close()


async def test_a_state_kept_is_read_by_whoever_hears_what_was_sent_after_it(two):
    (relay_a, relay_b), (sets_a, sets_b) = two
    read: list[object] = []

    async def read_on_hearing() -> None:
        read.append(await sets_b.get("a"))

    relay_b.on("st", lambda sender, op: asyncio.get_running_loop().create_task(
        read_on_hearing()))
    sets_a.put("a", 3, [1, 2], {2: ("busy", 100)}, TTL)
    for i in range(20):  # each state, then the frame about it, at once
        sets_a.keep("a", 1, ("away", 1000 + i), TTL)
        relay_a.send(["st", 1, "away", 1000 + i])
    await wait_until(lambda: len(read) == 20, "every st heard and read")
    for i, found in enumerate(read):
        seq, users, kept = found  # type: ignore[misc]
        assert (seq, users) == (3, {1, 2})
        assert kept[2] == ("busy", 100)
        assert kept[1][1] >= 1000 + i  # never older than the st that led to the read


async def test_a_new_sessions_online_is_stored_before_its_on_and_outvotes_an_older_state(two):
    """b died holding ann `away` (its set and hash live until they expire); her new
    session's first device on a: whoever hears a's `on` reads her `online`, the later."""
    (relay_a, relay_b), (sets_a, sets_b) = two
    sets_b.put("b", 1, [1], {1: ("away", 100)}, TTL)
    states = {1: ("online", 200)}
    stored = StoredStates(sets_a, "a", TTL, states.get, heartbeat=2.0)
    stored.beat(1, [])  # a's set, before ann connects there
    read: list[dict] = []

    async def read_on_hearing() -> None:
        found = await sets_b.all()
        latest, _ = states_read({i: (users, kept) for i, (_, users, kept) in found.items()},
                                lambda u: True)
        read.append(latest)

    relay_b.on("on", lambda sender, op: asyncio.get_running_loop().create_task(
        read_on_hearing()))
    stored.keep(1, began=True)  # as HubAcrossInstances.came_online, with the "on" after it
    relay_a.send(["on", 1, [], 1])
    await wait_until(lambda: read, "the on heard and the sets read")
    assert read == [{1: ("online", 200)}]


async def test_a_heartbeat_replaces_the_states_and_a_removal_clears_them(two):
    _, (sets_a, sets_b) = two
    sets_a.put("a", 1, [1, 2], {1: ("away", 5), 2: ("busy", 6)}, TTL)
    sets_a.keep("a", 2, None, TTL)  # bob back to online

    async def kept_for_b() -> object:
        found = await sets_b.all()
        return found.get("a")

    async def settled() -> bool:
        return await kept_for_b() == (1, {1, 2}, {1: ("away", 5)})

    await wait_until(settled, "the set and ann's state")
    sets_a.put("a", 2, [1], {}, TTL)  # ann back to online too

    async def none_kept() -> bool:
        return await kept_for_b() == (2, {1}, {})

    await wait_until(none_kept, "the set without states")
    sets_a.remove("a")

    async def gone() -> bool:
        return await sets_b.get("a") is None and await sets_b.all() == {}

    await wait_until(gone, "the set and its states removed")


async def test_a_beat_after_a_pause_past_the_ttl_writes_the_states_again(two):
    (relay_a, _), (sets_a, sets_b) = two
    ttl = 1.0  # the cluster's: 2.5 heartbeats
    stored = StoredStates(sets_a, "a", ttl, lambda u: ("away", 1000 + u), heartbeat=0.4)
    kept = {1: ("away", 1001), 2: ("away", 1002)}
    stored.beat(1, [1, 2])  # the first beat: a whole rewrite
    relay_a.send(["hb", 1])

    async def read() -> object:
        return await sets_b.get("a")

    async def written() -> bool:
        return await read() == (1, {1, 2}, kept)

    await wait_until(written, "the first beat's set and states")

    async def expired() -> bool:
        return await read() is None

    # Paused (SIGSTOP, a frozen VM, a stalled loop) until both keys expired: no restored(),
    # nothing refused; the next beat on waking must bring the states back with the set.
    await wait_until(expired, "the set and its states expired", timeout=ttl * 5)
    stored.beat(2, [1, 2])
    relay_a.send(["hb", 2])

    async def back() -> bool:
        return (await read() or (0,))[0] == 2

    await wait_until(back, "the next beat's set")
    assert await read() == (2, {1, 2}, kept)


async def test_a_set_written_by_an_older_instance_reads_without_states(redis_server):  # noqa: F811
    prefix = f"nirvana:test_{secrets.token_hex(4)}:"
    bus = RedisBus(redis_server.url, prefix=prefix, instance_id="new")
    await bus.start()
    try:
        sets = RedisOnlineSets(bus, Relay(bus))
        # As an older instance writes it: a set, no hash, no "states" field.
        await bus.redis.set(f"{prefix}online:old", json.dumps({"seq": 4, "users": [1]}))
        assert await sets.get("old") == (4, {1}, None)
        assert await sets.all() == {"old": (4, {1}, None)}
    finally:
        await bus.close()


@pytest.fixture
async def linked(redis_server):  # noqa: F811
    """Two instances' relays and sets, with a client of their Redis and their prefix."""
    prefix = f"nirvana:test_{secrets.token_hex(4)}:"
    buses = [RedisBus(redis_server.url, prefix=prefix, instance_id=name) for name in "ab"]
    relays = [Relay(bus) for bus in buses]
    for bus in buses:
        await bus.start()
    tasks = [asyncio.get_running_loop().create_task(r.run()) for r in relays]
    yield buses[0].redis, prefix, relays, RedisOnlineSets(buses[0], relays[0])
    for task in tasks:
        task.cancel()
    for bus in buses:
        await bus.close()


async def frames_cross(relays: list[Relay], sets: RedisOnlineSets) -> None:
    """A state kept and a frame sent with it: the frame is heard and nothing counts as
    dropped, whatever became of the write."""
    relay_a, relay_b = relays
    heard: list[object] = []
    relay_b.on("st", lambda sender, op: heard.append(op))
    relay_b.on("gap", lambda sender, op: heard.append(op))
    sets.keep("a", 1, ("away", 5), TTL)
    relay_a.send(["st", 1, "away", 5])
    await wait_until(lambda: heard, "the st heard")
    relay_a.send(["st", 1, "busy", 6])  # and the next batch (no gap told before it)
    await wait_until(lambda: len(heard) == 2, "the next st heard")
    assert heard == [["st", 1, "away", 5], ["st", 1, "busy", 6]]
    assert relay_a.dropped == 0


async def test_a_write_redis_refuses_does_not_take_the_frames_published_with_it(linked):
    redis, _, relays, sets = linked
    # Every write is refused when queued (out of memory), which aborts its MULTI; a PUBLISH
    # alone is not refused.
    await redis.config_set("maxmemory-policy", "noeviction")
    await redis.config_set("maxmemory", 1)
    await frames_cross(relays, sets)


async def test_a_write_that_fails_in_the_transaction_does_not_count_its_frames_dropped(linked):
    redis, prefix, relays, sets = linked
    await redis.set(f"{prefix}states:a", "not a hash")  # HSET fails there (WRONGTYPE)
    await frames_cross(relays, sets)


async def test_a_heartbeat_without_states_keeps_those_written_and_renews_them(linked):
    redis, prefix, relays, sets = linked
    sets.put("a", 1, [1, 2], {1: ("away", 5)}, TTL)
    sets.keep("a", 2, ("online", 7), TTL)  # bob back to online, outvoting older entries
    sets.put("a", 2, [1, 2], None, 60.0)  # a plain heartbeat: the set, the hash renewed
    relays[0].send(["hb", 2])

    async def renewed() -> bool:
        return await redis.pttl(f"{prefix}states:a") > TTL * 1000

    await wait_until(renewed, "the hash's expiry renewed")
    assert await sets.get("a") == (2, {1, 2}, {1: ("away", 5), 2: ("online", 7)})


async def test_refused_writes_are_logged_once_until_one_succeeds(linked, caplog):
    redis, _, relays, sets = linked
    await redis.config_set("maxmemory-policy", "noeviction")
    await redis.config_set("maxmemory", 1)
    await frames_cross(relays, sets)  # a batch with a write, refused
    await frames_cross(relays, sets)  # and another
    assert sets.refused() and not sets.refused()  # said once, to the next heartbeat
    await redis.config_set("maxmemory", 0)
    await frames_cross(relays, sets)
    said = [r.getMessage() for r in caplog.records if r.name == "nirvana.bus"]
    assert len([m for m in said if "refused a write" in m]) == 1
    assert [m for m in said if "takes writes again" in m] == [
        "Redis takes writes again (2 refused or failed)"]


async def test_writes_lost_to_any_failed_publish_are_counted(linked, caplog):
    _, _, relays, sets = linked

    def broken(pipe: object) -> None:
        raise RuntimeError("a bug in a write")

    relays[0].write(broken)  # fails the publish for a reason other than Redis being down
    await wait_until(sets.refused, "the lost write told to the next heartbeat")
    assert "publishing to the other instances failed" in caplog.text


async def test_a_write_refused_then_the_next_heartbeat_writes_the_states_whole(linked):
    redis, prefix, relays, sets = linked
    states = {1: ("away", 5)}
    stored = StoredStates(sets, "a", TTL, states.get, heartbeat=2.0)
    stored.beat(1, [1])  # the first: whole
    stored.beat(2, [1])  # a plain one

    async def read() -> object:
        return await sets.get("a")

    async def written() -> bool:
        return await read() == (2, {1}, {1: ("away", 5)})

    await wait_until(written, "the set and its states")
    await redis.set(f"{prefix}states:a", "not a hash")  # the next HSET fails (WRONGTYPE)
    states[1] = ("busy", 6)
    stored.keep(1)
    heard: list[object] = []
    relays[1].on("st", lambda sender, op: heard.append(op))
    relays[0].send(["st", 1, "busy", 6])  # published after the failed write
    await wait_until(lambda: heard, "the st heard")
    stored.beat(3, [1])

    async def repaired() -> bool:
        return (await redis.type(f"{prefix}states:a")) == b"hash" and (
            await read() == (3, {1}, {1: ("busy", 6)}))

    await wait_until(repaired, "the states written whole again")


async def test_entries_kept_in_one_batch_are_written_together_in_their_order(linked):
    redis, prefix, relays, sets = linked
    for user_id in range(1, 201):  # a burst of connects, then some leave, in one batch
        sets.keep("a", user_id, ("online", 1000 + user_id), TTL)
    sets.keep("a", 7, None, TTL)
    sets.keep("a", 8, ("away", 2000), TTL)
    sets.put("a", 1, [9], {9: ("busy", 3000)}, TTL)  # a whole rewrite comes after them
    sets.keep("a", 10, ("away", 4000), TTL)  # and this after the rewrite
    sets.keep("a", 9, None, TTL)
    relays[0].send(["hb", 1])

    async def written() -> object:
        return await sets.get("a")

    await wait_until(lambda: written(), "the batch written")
    assert await sets.get("a") == (1, {9}, {10: ("away", 4000)})
    sets.keep("a", 11, ("busy", 5000), TTL)  # a later batch: a write of its own
    relays[0].send(["st", 11, "busy"])

    async def later() -> bool:
        return (await sets.get("a")) == (1, {9}, {10: ("away", 4000), 11: ("busy", 5000)})

    await wait_until(later, "the next batch written")
    assert 0 < await redis.pttl(f"{prefix}states:a") <= TTL * 1000


async def test_entries_are_not_merged_past_a_write_queued_after_them_by_another_caller(linked):
    redis, prefix, relays, sets = linked
    sets.put("a", 1, [1, 2], {}, TTL)
    sets.keep("a", 1, ("away", 1000), TTL)
    relays[0].write(lambda pipe: pipe.delete(f"{prefix}states:a"))  # any other writer
    sets.keep("a", 2, ("busy", 2000), TTL)  # after that write, as asked
    relays[0].send(["hb", 1])

    async def written() -> bool:
        return (await sets.get("a")) == (1, {1, 2}, {2: ("busy", 2000)})

    await wait_until(written, "the batch written in the order asked")
