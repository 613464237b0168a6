"""The page cache of anonymous blog lists: exact across versions, bounded in age and size,
one build per burst of misses."""

from __future__ import annotations

import asyncio

import pytest

from nirvana.http.page_cache import PageCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def builder(calls: list[str], body: bytes = b"page", gate: asyncio.Event | None = None):
    async def build() -> bytes:
        calls.append("build")
        if gate is not None:
            await gate.wait()
        return body

    return build


async def test_a_page_is_built_once_then_served_until_the_version_moves():
    cache, calls = PageCache(clock=Clock()), []
    assert await cache.get("k", 1, builder(calls)) == b"page"
    assert await cache.get("k", 1, builder(calls)) == b"page"
    assert calls == ["build"]
    assert await cache.get("k", 2, builder(calls, b"new")) == b"new"
    assert calls == ["build"] * 2


async def test_a_page_past_max_age_is_answered_while_one_rebuild_runs_behind_it():
    clock = Clock()
    cache, calls, gate = PageCache(max_age=1.0, clock=clock), [], asyncio.Event()
    await cache.get("k", 1, builder(calls, b"old"))
    clock.now = 0.99
    await cache.get("k", 1, builder(calls))
    assert calls == ["build"]
    clock.now = 1.0
    # Same version, only old: no reader waits; one rebuild starts however many ask.
    assert await cache.get("k", 1, builder(calls, b"new", gate)) == b"old"
    assert await cache.get("k", 1, builder(calls, b"new", gate)) == b"old"
    await asyncio.sleep(0)
    assert calls == ["build"] * 2
    gate.set()
    for _ in range(3):
        await asyncio.sleep(0)
    assert await cache.get("k", 1, builder(calls)) == b"new"
    assert calls == ["build"] * 2


async def test_a_failed_rebuild_keeps_the_old_page():
    clock = Clock()
    cache = PageCache(max_age=1.0, clock=clock)
    await cache.get("k", 1, builder([], b"old"))
    clock.now = 5.0

    async def broken() -> bytes:
        raise RuntimeError("database down")

    assert await cache.get("k", 1, broken) == b"old"
    await asyncio.sleep(0)
    assert await cache.get("k", 1, builder([], b"new")) == b"old"  # that one rebuilds


async def test_pages_carry_an_etag_that_follows_their_bytes():
    cache = PageCache(clock=Clock())
    a = await cache.page("a", 1, builder([], b"one"))
    same = await cache.page("b", 1, builder([], b"one"))
    other = await cache.page("a", 2, builder([], b"two"))
    assert a.etag == same.etag != other.etag and a.etag.startswith('"')


async def test_concurrent_misses_share_one_build():
    cache, calls, gate = PageCache(clock=Clock()), [], asyncio.Event()
    tasks = [asyncio.create_task(cache.get("k", 1, builder(calls, gate=gate)))
             for _ in range(5)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*tasks) == [b"page"] * 5
    assert calls == ["build"]


async def test_a_build_started_before_a_write_is_not_served_after_it():
    cache, calls, gate = PageCache(clock=Clock()), [], asyncio.Event()
    old = asyncio.create_task(cache.get("k", 1, builder(calls, b"old", gate)))
    await asyncio.sleep(0)
    # The write moved the version: this reader must not wait for (nor get) the old build.
    new = asyncio.create_task(cache.get("k", 2, builder(calls, b"new")))
    assert await new == b"new"
    gate.set()
    assert await old == b"old"  # its own reader, who came before the write, gets it
    assert cache.fresh("k", 2) == b"new"  # and it did not replace the newer page


async def test_a_failed_build_is_not_cached_and_the_cache_is_bounded():
    cache = PageCache(size=2, clock=Clock())

    async def broken() -> bytes:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError):
        await cache.get("k", 1, broken)
    assert cache.fresh("k", 1) is None
    for key in "abc":
        await cache.get(key, 1, builder([]))
    assert cache.fresh("a", 1) is None and cache.fresh("c", 1) == b"page"


async def test_the_cache_is_bounded_in_bytes_too():
    cache = PageCache(size=100, max_bytes=10, clock=Clock())
    for key in "abc":
        await cache.get(key, 1, builder([], b"12345"))
    assert cache.fresh("a", 1) is None and cache.fresh("b", 1) == cache.fresh("c", 1) == b"12345"
    await cache.get("c", 2, builder([], b"123"))  # a rebuilt page replaces its own bytes
    assert cache.fresh("b", 1) == b"12345" and cache._bytes == 8



async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_a_page_with_an_activity_counter_is_rebuilt_for_counts_only_once_it_moved():
    clock = Clock()
    cache, calls = PageCache(max_age=1.0, names_max_age=10.0, clock=clock), []
    await cache.page("k", 1, builder(calls, b"one"), activity=7)
    clock.now = 5.0  # past max_age, but nothing moved the counts: no rebuild
    assert cache.fresh_page("k", 1, activity=7) is not None
    assert (await cache.page("k", 1, builder(calls, b"two"), activity=7)).body == b"one"
    await settle()
    assert calls == ["build"]
    # A reaction somewhere: the next reader still gets the page, and one rebuild starts.
    assert cache.fresh_page("k", 1, activity=8) is None
    assert (await cache.page("k", 1, builder(calls, b"two"), activity=8)).body == b"one"
    await settle()
    assert calls == ["build"] * 2
    assert (await cache.page("k", 1, builder(calls), activity=8)).body == b"two"
    # Names follow no counter: past names_max_age the page is rebuilt anyway.
    clock.now = 16.0
    assert cache.fresh_page("k", 1, activity=8) is None
    await cache.page("k", 1, builder(calls, b"three"), activity=8)
    await settle()
    assert calls == ["build"] * 3
    clock.now = 17.5
    assert cache.fresh_page("k", 1, activity=8) is not None
    assert cache.fresh("k", 1) is None  # without a counter: the plain max_age applies


async def test_held_names_a_kept_page_of_that_version_however_old_and_never_builds():
    clock = Clock()
    cache, calls = PageCache(max_age=1.0, clock=clock), []
    assert cache.held("k", 1) is None
    await cache.get("k", 1, builder(calls))
    clock.now = 100.0
    assert cache.fresh_page("k", 1) is None
    held = cache.held("k", 1)
    assert held is not None and held.body == b"page"
    assert cache.held("k", 2) is None
    assert calls == ["build"]
