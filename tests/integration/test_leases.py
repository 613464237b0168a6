"""Named leases on the real PostgreSQL: who holds one, for how long, and what a paused or
crashed holder finds when it comes back."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import timedelta

import pytest

from nirvana.instance_guard import InstanceRunning, claim_instance
from nirvana.leases import TTL, HeldLease, holder_detail
from nirvana.storage.postgres.leases import PgLeases


@pytest.fixture
async def leases(services):  # `services` empties the tables for this test
    return PgLeases(services.pool)


async def test_one_holder_at_a_time_until_it_expires(leases):
    held, lease = await leases.acquire("x", "a", 30, {"pid": 1})
    assert held and lease.holder == "a" and lease.epoch == 1 and 25 < lease.remaining <= 30
    held, lease = await leases.acquire("x", "b", 30, {"pid": 2})
    assert not held and lease.holder == "a" and lease.detail == {"pid": 1}
    # The holder taking it again keeps its epoch: no one else had it in between.
    held, lease = await leases.acquire("x", "a", 30, {"pid": 1})
    assert held and lease.epoch == 1

    await leases.acquire("y", "a", 0.3, {})
    await asyncio.sleep(0.5)
    held, lease = await leases.acquire("y", "b", 30, {})
    assert held and lease.holder == "b" and lease.epoch == 2
    assert await leases.renew("y", "a", 1, 30) is None  # the old holder learns it lost it


async def test_release_frees_at_once_and_never_reuses_an_epoch(leases):
    _, first = await leases.acquire("x", "a", 30, {})
    await leases.release("x", "a", first.epoch)
    held, second = await leases.acquire("x", "b", 30, {})
    assert held and second.epoch == first.epoch + 1
    # A stale release (the old holder's) does not end the new holder's lease.
    await leases.release("x", "a", first.epoch)
    assert not (await leases.acquire("x", "c", 30, {}))[0]


async def test_a_holder_known_dead_can_be_taken_before_expiry(leases):
    await leases.acquire("x", "a", 30, {})
    assert not (await leases.acquire("x", "b", 30, {}, take_from="someone-else"))[0]
    held, lease = await leases.acquire("x", "b", 30, {}, take_from="a")
    assert held and lease.holder == "b" and lease.epoch == 2


async def test_a_paused_holder_stops_trusting_its_lease_and_learns_it_was_taken(leases):
    now = [100.0]
    lost = []
    _, lease = await leases.acquire("x", "a", 5, {})
    mine = HeldLease(leases, lease, ttl=5, sent_at=100.0, clock=lambda: now[0],
                     on_lost=lambda: lost.append(True))
    assert mine.valid()
    now[0] += 4.5  # paused past ttl minus the margin: not trusted before any renewal
    assert not mine.valid()
    await leases.release("x", "a", lease.epoch)  # stands for "expired, taken by b"
    await leases.acquire("x", "b", 5, {})
    assert await mine.renew() is False
    assert mine.lost and lost == [True] and not mine.valid()
    assert await mine.renew() is False and lost == [True]  # told once


async def test_renewal_extends_the_lease(leases):
    now = [0.0]
    _, lease = await leases.acquire("x", "a", 5, {})
    mine = HeldLease(leases, lease, ttl=5, sent_at=0.0, clock=lambda: now[0])
    now[0] = 3.9
    assert await mine.renew() is True
    now[0] = 7.5  # past the first lease's trust, within the renewed one's
    assert mine.valid()
    assert 4 < (await leases.current("x")).remaining <= 5


async def test_the_instance_refusal_names_the_holder_and_redis_url(leases):
    await claim_instance(leases, "first", "http://127.0.0.1:8123")
    with pytest.raises(InstanceRunning) as refused:
        await claim_instance(leases, "second", "http://127.0.0.1:8124")
    message = str(refused.value)
    assert "http://127.0.0.1:8123" in message and "REDIS_URL" in message
    assert "\n" not in message


async def test_a_crashed_holder_on_this_machine_does_not_block_the_next_start(leases):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    detail = {**holder_detail(), "pid": int(gone.stdout)}  # a process that has exited
    await leases.acquire("instance", "crashed", 30, detail)
    held = await claim_instance(leases, "next", None)
    assert held.lease.holder == "next" and held.epoch == 2


async def test_the_instance_lease_says_when_it_was_taken_by_the_databases_clock(services,
                                                                                 leases):
    # A single instance gives back the reservations made before this moment (bootstrap.py):
    # it must fall within the claim, by the clock the reservations are stamped with.
    before = await services.pool.fetchval("SELECT clock_timestamp()")
    held = await claim_instance(leases, "next", None)
    after = await services.pool.fetchval("SELECT clock_timestamp()")
    assert before <= held.taken_at <= after
    assert held.lease.expires_at - held.taken_at == timedelta(seconds=TTL)
