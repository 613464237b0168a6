"""The bus between instances on a real redis-server: order, isolation by prefix, and what
an instance sees when Redis goes away and comes back."""

from __future__ import annotations

import asyncio
import secrets

import pytest
import redis.asyncio

from nirvana.storage.redis.bus import BusUnavailable, RedisBus
from tests.support.redis_server import redis_server  # noqa: F401 (fixture)
from tests.support.waiting import wait_until


@pytest.fixture
async def buses(redis_server):  # noqa: F811
    """Two instances of one deployment, and the means to make more."""
    made: list[RedisBus] = []

    async def make(prefix: str, instance_id: str) -> RedisBus:
        bus = RedisBus(redis_server.url, prefix=prefix, instance_id=instance_id)
        made.append(bus)
        return bus

    yield make
    for bus in made:
        await bus.close()


def _prefix() -> str:
    return f"nirvana:test_{secrets.token_hex(4)}:"


async def test_a_subscriber_gets_one_publishers_messages_in_order(buses):
    prefix = _prefix()
    sender, receiver = await buses(prefix, "a"), await buses(prefix, "b")
    got: list[bytes] = []
    receiver.subscribe("events", got.append)
    await sender.start()
    await receiver.start()
    assert sender.up and receiver.up and receiver.instance_id == "b"

    sent = [f"frame {i}".encode() for i in range(500)]
    for payload in sent:
        await sender.publish("events", payload)
    await wait_until(lambda: len(got) == len(sent), "500 messages")
    assert got == sent


async def test_a_handler_added_after_start_is_subscribed(buses):
    prefix = _prefix()
    bus = await buses(prefix, "a")
    await bus.start()
    got: list[bytes] = []
    bus.subscribe("late", got.append)
    # The subscription is confirmed asynchronously: publish until it is in place.
    async def arrived() -> bool:
        await bus.publish("late", b"x")
        return bool(got)
    await wait_until(arrived, "a message on a channel subscribed after start")


async def test_deployments_with_different_prefixes_never_see_each_other(buses):
    ours, theirs = await buses(_prefix(), "a"), await buses(_prefix(), "b")
    got_ours: list[bytes] = []
    got_theirs: list[bytes] = []
    ours.subscribe("events", got_ours.append)
    theirs.subscribe("events", got_theirs.append)
    await ours.start()
    await theirs.start()
    await ours.publish("events", b"ours")
    await theirs.publish("events", b"theirs")
    await wait_until(lambda: got_ours and got_theirs, "each deployment's message")
    await asyncio.sleep(0.2)
    assert got_ours == [b"ours"] and got_theirs == [b"theirs"]


async def test_one_failing_handler_does_not_stop_the_others(buses):
    bus = await buses(_prefix(), "a")
    got: list[bytes] = []

    def broken(payload: bytes) -> None:
        raise RuntimeError("a bug in one listener")

    bus.subscribe("events", broken)
    bus.subscribe("events", got.append)
    await bus.start()
    await bus.publish("events", b"1")
    await bus.publish("events", b"2")
    await wait_until(lambda: got == [b"1", b"2"], "both messages past the broken handler")


async def test_redis_stopped_then_started_again(buses, redis_server):  # noqa: F811
    prefix = _prefix()
    sender, receiver = await buses(prefix, "a"), await buses(prefix, "b")
    got: list[bytes] = []
    restored: list[str] = []
    receiver.subscribe("events", got.append)

    async def resync() -> None:
        restored.append("async")

    receiver.on_restored(resync)
    receiver.on_restored(lambda: restored.append("plain"))
    await sender.start()
    await receiver.start()
    assert restored == []  # connected at start: nothing was missed

    redis_server.stop()
    # The sender learns on its next publish (nothing is published), the receiver from
    # its subscription.
    with pytest.raises(BusUnavailable):
        await sender.publish("events", b"lost")
    assert not sender.up
    with pytest.raises(BusUnavailable):  # and at once while it stays down
        await sender.publish("events", b"lost", [lambda pipe: pipe.set("written", 1)])
    assert sender.refusals == 1  # that write counts as lost (its owner writes it again)
    await wait_until(lambda: not receiver.up, "the receiver to notice Redis is gone")

    redis_server.start()
    await wait_until(lambda: receiver.up and sender.up, "both to reconnect", timeout=15)
    assert restored == ["async", "plain"]
    await sender.publish("events", b"after")
    await wait_until(lambda: got == [b"after"], "the subscription restored")


async def test_a_broken_publish_counts_its_writes_lost(buses, redis_server):  # noqa: F811
    bus = await buses(_prefix(), "a")
    await bus.start()
    admin = redis.asyncio.Redis.from_url(redis_server.url)
    # Writes wait (PING does not): the publish outlasts its socket timeout while the
    # subscription stays up, so the bus learns of it from this publish alone.
    await admin.execute_command("CLIENT", "PAUSE", 4000, "WRITE")
    try:
        assert bus.up
        with pytest.raises(BusUnavailable):
            await bus.publish("events", b"x", [lambda pipe: pipe.set(bus.prefix + "w", 1)])
    finally:
        await admin.execute_command("CLIENT", "UNPAUSE")
        await admin.aclose()
    assert bus.refusals == 1  # that write counts as lost (its owner writes it again)
    await wait_until(lambda: bus.up, "the bus up again")


async def test_redis_down_at_start_starts_degraded_and_catches_up(buses, redis_server):  # noqa: F811
    redis_server.stop()
    bus = await buses(_prefix(), "a")
    got: list[bytes] = []
    restored: list[bool] = []
    bus.subscribe("events", got.append)
    bus.on_restored(lambda: restored.append(True))
    await bus.start()  # returns: an instance serves its own sockets without Redis
    assert not bus.up
    with pytest.raises(BusUnavailable):
        await bus.publish("events", b"x")

    redis_server.start()
    await wait_until(lambda: bus.up, "the bus to connect", timeout=15)
    assert restored == [True]  # it may have missed messages while it ran without Redis
    await bus.publish("events", b"y")
    await wait_until(lambda: got == [b"y"], "the message")


async def test_a_bus_shared_by_two_parts_of_the_wiring_starts_once(buses):
    bus = await buses(_prefix(), "a")
    got: list[bytes] = []
    bus.subscribe("events", got.append)
    await bus.start()
    await bus.start()  # the second part: nothing more starts, nothing arrives twice
    await bus.publish("events", b"once")
    await wait_until(lambda: got, "the message")
    await asyncio.sleep(0.2)
    assert got == [b"once"]


async def test_a_burst_of_publishes_waits_for_connections_and_keeps_the_bus_up(buses):
    # More publishes in flight than the connection pool holds (forwarded sends under load):
    # they queue for a connection; none fails and the bus is not taken for down.
    prefix = _prefix()
    sender, receiver = await buses(prefix, "a"), await buses(prefix, "b")
    got: list[bytes] = []
    receiver.subscribe("burst", got.append)
    await sender.start()
    await receiver.start()
    sent = {f"m{i}".encode() for i in range(400)}
    await asyncio.gather(*(sender.publish("burst", payload) for payload in sent))
    assert sender.up
    await wait_until(lambda: len(got) == len(sent), "400 messages")
    assert set(got) == sent
