"""The relay between instances on a real redis-server: one instance's operations and frames
reach the others in the order it sent them, never itself, and are dropped (counted) while
Redis is down."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from nirvana.storage.redis.bus import RedisBus
from nirvana.storage.redis.relay import Relay
from tests.support.redis_server import redis_server  # noqa: F401 (fixture)
from tests.support.tcp_proxy import CuttableProxy
from tests.support.waiting import wait_until


@pytest.fixture
async def relays(redis_server):  # noqa: F811
    prefix = f"nirvana:test_{secrets.token_hex(4)}:"
    buses = [RedisBus(redis_server.url, prefix=prefix, instance_id=name) for name in "ab"]
    made = [Relay(bus) for bus in buses]
    for bus in buses:
        await bus.start()
    tasks = [asyncio.get_running_loop().create_task(r.run()) for r in made]
    yield made
    for task in tasks:
        task.cancel()
    for bus in buses:
        await bus.close()


async def test_operations_and_frames_arrive_in_the_order_sent(relays):
    a, b = relays
    got: list[tuple] = []
    b.on("op", lambda sender, op: got.append(("op", sender, op[1])))
    b.on_frames(lambda users, text, pos: got.append(("frame", users, text, pos)))
    mine: list[tuple] = []
    a.on("op", lambda sender, op: mine.append(op))
    a.on_frames(lambda users, text, pos: mine.append(text))

    expected = []
    for i in range(2500):  # more than one bus message holds: split in order
        if i % 3:
            a.send(["op", i])
            expected.append(("op", "a", i))
        else:
            text = '{"type":"newMessage","pos":%d,"text":"a \\n b"}' % i
            a.send_frame([1, 2], text, i)
            expected.append(("frame", [1, 2], text, i))
    a.send_frame([3], "two\nlines", None)  # not an encoded frame: still arrives whole
    expected.append(("frame", [3], "two\nlines", None))
    await wait_until(lambda: len(got) == len(expected), "every operation")
    assert got == expected
    assert mine == []  # an instance never hears itself


async def test_while_redis_is_down_operations_are_dropped_and_counted(relays, redis_server):  # noqa: F811
    a, b = relays
    got: list[int] = []
    b.on("op", lambda sender, op: got.append(op[1]))
    redis_server.stop()

    def dropped() -> bool:
        a.send(["op", 1])
        return a.dropped > 0
    await wait_until(dropped, "an operation dropped while Redis is down")
    await asyncio.sleep(0.1)  # the last ones sent are dropped too, before Redis is back
    redis_server.start()

    def crossed() -> bool:
        a.send(["op", 2])
        return 2 in got
    await wait_until(crossed, "an operation crossing after the restart", timeout=15)
    assert 1 not in got


async def test_an_instance_cut_off_alone_names_the_users_whose_frames_it_dropped(redis_server):  # noqa: F811
    # Only the first instance's link to Redis breaks: the second never notices a thing, so
    # the first must tell it, once back, whose frames did not cross.
    proxy = CuttableProxy("127.0.0.1", redis_server.port)
    await proxy.start()
    prefix = f"nirvana:test_{secrets.token_hex(4)}:"
    cut_off = RedisBus(f"redis://127.0.0.1:{proxy.port}/0", prefix=prefix, instance_id="a")
    other = RedisBus(redis_server.url, prefix=prefix, instance_id="b")
    a, b = Relay(cut_off), Relay(other)
    gaps: list[list[int] | None] = []
    frames: list[str] = []
    b.on("gap", lambda sender, op: gaps.append(op[1]))
    b.on_frames(lambda users, text, pos: frames.append(text))
    for bus in (cut_off, other):
        await bus.start()
    runner = asyncio.get_running_loop().create_task(a.run())
    try:
        a.send_frame([1, 2], '{"type":"x"}', 1)
        await wait_until(lambda: frames == ['{"type":"x"}'], "a frame before the cut")
        proxy.sever()
        pos = iter(range(2, 10**6))

        def dropped() -> bool:
            a.send_frame([3, 4], '{"type":"lost"}', next(pos))
            return a.dropped > 0
        await wait_until(dropped, "a frame dropped while cut off")
        last = next(pos)
        a.send_frame([4, 5], '{"type":"lost too"}', last)
        a.send_frame([6], '{"type":"typing"}', None)  # live only: nothing to resume
        await asyncio.sleep(0.1)
        assert other.up and gaps == []
        proxy.heal()
        await wait_until(lambda: gaps, "the gap, once the first instance is back", timeout=20)
        assert gaps == [[[3, last - 1], [4, last], [5, last]]]
        assert '{"type":"lost"}' not in frames
    finally:
        runner.cancel()
        for bus in (cut_off, other):
            await bus.close()
        await proxy.close()
