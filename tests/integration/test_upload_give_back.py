"""The bytes of a reservation whose process is known gone, given back before the sweep's hour
(domain/upload_sweep.py), against the real PostgreSQL, the local disk and a real Redis: the
row stays, of no bytes, naming its file for the sweep, which gives back nothing twice; an
upload whose bytes were given back under it (its process only paused) stores no row, answers
503 in the one error shape and leaves no file."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from nirvana.domain.sniffing import sniff
from nirvana.domain.upload_sweep import GoneInstances, give_back_of_others, sweep
from nirvana.storage.redis.bus import RedisBus
from nirvana.storage.redis.online import RedisOnlineSets
from nirvana.storage.redis.relay import Relay
from nirvana.wiring.instances import reserver
from tests.support.http import sign_up
from tests.support.media_files import pdf
from tests.support.pg_races import waiting_on_locks
from tests.support.redis_server import redis_server  # noqa: F401 (fixture)
from tests.support.upload_calls import HeldStore, files, me, upload, usage


async def reserved(services, user_id: int, by: str | None, data: bytes = pdf()) -> str:
    """What a process `by` killed -9 after its save leaves: the reservation and the file."""
    uploads = services.uploads
    content = sniff(data)
    url = uploads.store.new_url(content)
    assert await uploads.ledger.reserve(user_id, len(data), uploads.limits.quota, url, by)
    await uploads.store.save(data, content, url)
    return url


async def now(services):
    return await services.pool.fetchval("SELECT clock_timestamp()")


async def pending(services) -> dict[str, tuple[str | None, int]]:
    rows = await services.pool.fetch("SELECT url, reserved_by, size FROM media_pending")
    return {r["url"]: (r["reserved_by"], r["size"]) for r in rows}


async def test_a_single_instance_gives_back_what_other_processes_reserved(client, services,
                                                                          settings):
    ann = await sign_up(client)
    aid = await me(client, ann)
    before = await reserved(services, aid, "old:1:aa")
    unnamed = await reserved(services, aid, None)  # an earlier release's
    taken_at = await now(services)
    mine = await reserved(services, aid, "me:2:bb")
    # Made since by another: a pass of this process run late (it was paused, and replaced
    # meanwhile) must not take the uploads of the one that took its place.
    later = await reserved(services, aid, "next:3:cc")
    size = len(pdf())
    assert (await usage(client, ann))["used_bytes"] == 4 * size

    assert await give_back_of_others(services.upload_reservers, "me:2:bb", taken_at) == 2
    assert (await usage(client, ann))["used_bytes"] == 2 * size
    # The files stay named, of no bytes, until the sweep removes them.
    assert await pending(services) == {before: ("old:1:aa", 0), unnamed: (None, 0),
                                       mine: ("me:2:bb", size), later: ("next:3:cc", size)}
    assert len(files(settings)) == 4
    assert await give_back_of_others(services.upload_reservers, "me:2:bb", taken_at) == 0
    await services.uploads.ledger.release(later)  # what its upload does when it fails
    await services.uploads.store.delete(later)

    assert await sweep(services.uploads, older_than=0) == 3
    assert files(settings) == set()
    assert await usage(client, ann) == {"used_bytes": 0, "files": 0,
                                        "quota_bytes": services.uploads.limits.quota}


async def test_an_upload_whose_bytes_were_given_back_while_it_saved_fails_and_leaves_nothing(
        client, services, settings):
    ann = await sign_up(client)
    services.uploads.instance = lambda: "paused:1:aa"
    services.uploads.store = held = HeldStore(services.uploads.store.root)
    sending = asyncio.create_task(upload(client, ann, pdf(), "late.pdf"))
    await held.begun.wait()
    assert await give_back_of_others(services.upload_reservers, "next:2:bb",
                                     await now(services)) == 1
    held.go.set()  # the paused process wakes
    answer = await sending
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "unavailable"
    assert files(settings) == set()
    assert await pending(services) == {}
    assert await usage(client, ann) == {"used_bytes": 0, "files": 0,
                                        "quota_bytes": services.uploads.limits.quota}


async def test_an_insert_held_while_its_bytes_were_given_back_stores_no_row(client, services,
                                                                            settings):
    ann = await sign_up(client)
    kept = await upload(client, ann, pdf(), "kept.pdf")
    assert kept.status_code == 201, kept.text
    services.uploads.instance = lambda: "paused:1:aa"
    async with services.pool.acquire() as holder, holder.transaction():
        await holder.execute("LOCK TABLE media_uploads IN SHARE MODE")
        sending = asyncio.create_task(upload(client, ann, pdf(), "late.pdf"))
        await waiting_on_locks(services.pool, sending, holder.get_server_pid())
        assert await give_back_of_others(services.upload_reservers, "next:2:bb",
                                         await now(services)) == 1
    answer = await sending
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "unavailable"
    assert files(settings) == {kept.json()["name"]}
    assert await pending(services) == {}
    assert await usage(client, ann) == {"used_bytes": len(pdf()), "files": 1,
                                        "quota_bytes": services.uploads.limits.quota}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def online(redis_server):  # noqa: F811
    """The live keys of a deployment on a real Redis, as an instance reads them."""
    bus = RedisBus(redis_server.url, prefix=f"nirvana:test_{secrets.token_hex(4)}:",
                   instance_id="a")
    await bus.start()
    yield bus, RedisOnlineSets(bus, Relay(bus))
    await bus.close()


async def test_on_redis_an_instance_missing_past_the_grace_has_its_bytes_given_back(
        client, services, online):
    bus, sets = online
    ann = await sign_up(client)
    aid = await me(client, ann)
    urls = {by: await reserved(services, aid, by) for by in ("a", "b", "c", None)}
    await services.pool.execute(
        "UPDATE media_pending SET reserved_at = now() - interval '1 minute'")
    young = await reserved(services, aid, "c")  # made after the others: younger than grace
    for name in ("a", "b"):
        await bus.redis.set(f"{bus.prefix}online:{name}", "{}", px=60_000)
    clock = Clock()
    gone = GoneInstances(services.upload_reservers, sets, own="a", grace=30, clock=clock)
    size = len(pdf())

    assert await gone.give_back() == 0  # c is missing from now on
    clock.now += 29
    assert await gone.give_back() == 0
    clock.now += 1
    assert await gone.give_back() == 1
    assert (await pending(services))[urls["c"]] == ("c", 0)
    assert (await pending(services))[young] == ("c", size)  # may be at work still
    assert (await usage(client, ann))["used_bytes"] == 4 * size

    # b's key lapses (a kill -9, or a pause past its TTL): first seen missing now.
    await bus.redis.delete(f"{bus.prefix}online:b")
    assert await gone.give_back() == 0
    clock.now += 29
    assert await gone.give_back() == 0
    clock.now += 1
    assert await gone.give_back() == 1
    # Neither this instance's own (key or not), nor one that named no instance.
    await bus.redis.delete(f"{bus.prefix}online:a")
    clock.now += 60
    assert await gone.give_back() == 0
    assert {u: by for u, (by, size) in (await pending(services)).items() if size} == {
        urls["a"]: "a", urls[None]: None, young: "c"}
    assert (await usage(client, ann))["used_bytes"] == 3 * size


async def test_on_redis_nothing_is_given_back_while_this_instances_own_key_is_missing(
        client, services, online):
    # Redis answers reads but refuses or evicts the heartbeats' writes: every key lapses,
    # the live instances' too, which says nothing about who is gone.
    bus, sets = online
    ann = await sign_up(client)
    await reserved(services, await me(client, ann), "c")
    await services.pool.execute(
        "UPDATE media_pending SET reserved_at = now() - interval '1 minute'")
    clock = Clock()
    gone = GoneInstances(services.upload_reservers, sets, own="a", grace=30, clock=clock)
    assert await gone.give_back() == 0
    clock.now += 60
    assert await gone.give_back() == 0
    assert (await usage(client, ann))["used_bytes"] == len(pdf())
    # Our key back: c is missing from now on, not since the key-less passes.
    await bus.redis.set(f"{bus.prefix}online:a", "{}", px=60_000)
    assert await gone.give_back() == 0
    clock.now += 29
    assert await gone.give_back() == 0
    clock.now += 1
    assert await gone.give_back() == 1
    assert (await usage(client, ann))["used_bytes"] == 0


async def test_on_redis_nothing_is_given_back_while_redis_does_not_answer(
        client, services, online, redis_server):  # noqa: F811
    bus, sets = online
    ann = await sign_up(client)
    await reserved(services, await me(client, ann), "c")
    await services.pool.execute(
        "UPDATE media_pending SET reserved_at = now() - interval '1 minute'")
    await bus.redis.set(f"{bus.prefix}online:a", "{}", px=60_000)
    clock = Clock()
    gone = GoneInstances(services.upload_reservers, sets, own="a", grace=30, clock=clock)
    assert await gone.give_back() == 0  # c is missing from now on
    redis_server.stop()
    clock.now += 30
    assert await gone.give_back() == 0
    assert (await usage(client, ann))["used_bytes"] == len(pdf())
    redis_server.start()
    await bus_up(bus)
    await bus.redis.set(f"{bus.prefix}online:a", "{}", px=60_000)  # if the restart lost it
    # What was seen missing before is forgotten: c is missing from now on.
    assert await gone.give_back() == 0
    clock.now += 30
    assert await gone.give_back() == 1
    assert (await usage(client, ann))["used_bytes"] == 0


async def test_on_redis_an_instance_cut_off_reserves_naming_no_one(
        client, services, online, redis_server):  # noqa: F811
    # The others take it for gone once its key lapses: what it reserves while cut off waits
    # for the hour-old sweep rather than being given back under its uploads.
    bus, _ = online
    services.uploads.instance = reserver(bus)
    ann = await sign_up(client)
    services.uploads.store = held = HeldStore(services.uploads.store.root)
    sending = asyncio.create_task(upload(client, ann, pdf(), "up.pdf"))
    await held.begun.wait()
    assert list((await pending(services)).values()) == [("a", len(pdf()))]
    held.go.set()
    assert (await sending).status_code == 201
    redis_server.stop()
    await bus_down(bus)
    held = services.uploads.store = HeldStore(services.uploads.store.root)
    sending = asyncio.create_task(upload(client, ann, pdf(), "cut.pdf"))
    await held.begun.wait()
    assert list((await pending(services)).values()) == [(None, len(pdf()))]
    held.go.set()
    assert (await sending).status_code == 201
    redis_server.start()
    await bus_up(bus)


async def bus_down(bus: RedisBus, seconds: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while bus.up:
        assert asyncio.get_running_loop().time() < deadline, "Redis not seen down"
        await asyncio.sleep(0.05)


async def bus_up(bus: RedisBus, seconds: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not bus.up:
        assert asyncio.get_running_loop().time() < deadline, "Redis not back"
        await asyncio.sleep(0.05)
