"""Who runs the chat writer among instances (the `chat-writer` lease on the real
PostgreSQL), and the fence that keeps a writer that lost it from committing (the real
MongoDB-wire store)."""

from __future__ import annotations

import asyncio

import pytest

from nirvana.chat_writer_role import ChatWriterRole
from nirvana.domain.chat.entities import ReceiptKind
from nirvana.domain.errors import UnavailableError
from nirvana.storage.postgres.leases import PgLeases
from tests.support.people import friends


class Instance:
    """One instance's role, recording what it was told to be."""

    def __init__(self, leases: PgLeases, name: str, ttl: float = 2.0,
                 try_every: float = 0.1) -> None:
        self.told: list[str] = []
        self.epochs: list[int] = []  # the epoch each lead was told to fence the store at
        self.stopped = False  # as the writer's `stepped_down` (a refusal of its epoch)
        self.role = ChatWriterRole(leases, name, lead=self._lead, follow=self._follow,
                                   stepped_down=lambda: self.stopped, ttl=ttl,
                                   renew_every=ttl / 3, try_every=try_every)

    async def _lead(self, may_commit, epoch) -> None:
        self.told.append("lead")
        self.epochs.append(epoch)

    async def _follow(self) -> None:
        self.told.append("follow")


@pytest.fixture
async def leases(services):  # `services` empties the tables for this test
    return PgLeases(services.pool)


class FailingLead:
    """A lead that fails while `fails` is set (the store's fence could not be raised)."""

    def __init__(self) -> None:
        self.fails = True

    async def lead(self, may_commit, epoch) -> None:
        if self.fails:
            raise RuntimeError("collMod refused")

    async def follow(self) -> None:
        pass


async def ready_with(services, settings, role: ChatWriterRole):
    """/ready of an app whose chat writer role is `role`."""
    import dataclasses

    import httpx

    from nirvana.app import create_app

    app = create_app(settings, dataclasses.replace(services, chat_role=role))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as c:
        return await c.get("/ready")


async def test_one_instance_leads_and_another_takes_over_when_it_stops(leases):
    first, second = Instance(leases, "first"), Instance(leases, "second")
    await first.role.start(), await second.role.start()
    assert first.told == ["follow", "lead"] and first.role.is_writer()
    assert second.told == ["follow"] and not second.role.is_writer()
    running = asyncio.create_task(second.role.run())
    try:
        epoch = first.role.held.epoch
        await first.role.release()
        assert first.told[-1] == "follow" and not first.role.is_writer()
        for _ in range(50):
            if second.role.is_writer():
                break
            await asyncio.sleep(0.1)
        assert second.told == ["follow", "lead"] and second.role.held.epoch == epoch + 1
        assert first.epochs == [epoch] and second.epochs == [epoch + 1]
    finally:
        running.cancel()


async def test_a_writer_paused_past_its_lease_stops_trusting_it_and_then_follows(leases):
    paused, other = Instance(leases, "paused"), Instance(leases, "other")
    await paused.role.start()
    assert paused.role.is_writer()
    await other.role.start()
    running = asyncio.create_task(other.role.run())
    try:
        # `paused` renews nothing (its loop does not run): its lease expires.
        for _ in range(60):
            if other.role.is_writer():
                break
            await asyncio.sleep(0.1)
        assert other.role.is_writer()
        assert not paused.role.is_writer()  # by its own clock, before it asks anyone
        waking = asyncio.create_task(paused.role.run())  # it wakes: its next renewal fails
        for _ in range(50):
            if paused.role.held is None:
                break
            await asyncio.sleep(0.1)
        assert paused.told[-1] == "follow" and paused.role.held is None
        assert other.role.is_writer()
        waking.cancel()
    finally:
        running.cancel()


async def test_a_store_whose_writer_may_no_longer_commit_writes_nothing(client, services):
    a, b = await friends(client, services)
    conversation = await services.chat.open_direct(a, b)
    may = {"commit": True}
    await services.chat_store.lead(lambda: may["commit"], 1)
    await services.chat.send_message(a, conversation.id, client_id="before", text="before")
    may["commit"] = False
    with pytest.raises(UnavailableError):
        await services.chat.send_message(a, conversation.id, client_id="after", text="after")
    with pytest.raises(UnavailableError):
        await services.chat.mark(b, conversation.id, ReceiptKind.READ, 1)
    may["commit"] = True
    history = await services.chat_store.messages(conversation.id, before=None, after=None,
                                                 limit=10)
    assert [m.client_id for m in history] == ["before"]


async def test_a_writer_the_store_refused_gives_the_lease_back_though_it_still_renews(
        leases):
    """Its renewals would succeed (nothing took the lease: say a second deployment on the
    same chat database raised the fence), yet it writes nothing: it stops claiming to be
    the writer at once, gives the lease back at its next renewal, and another leads."""
    refused = Instance(leases, "refused", try_every=60)  # it does not retake at once
    other = Instance(leases, "other")
    await refused.role.start(), await other.role.start()
    assert refused.role.is_writer()
    epoch = refused.role.held.epoch
    refused.stopped = True
    assert not refused.role.is_writer()  # forwards stop coming here now
    running = [asyncio.create_task(i.role.run()) for i in (refused, other)]
    try:
        for _ in range(50):
            if other.role.is_writer():
                break
            await asyncio.sleep(0.1)
        assert refused.role.held is None and refused.told[-1] == "follow"
        assert other.role.is_writer() and other.epochs == [epoch + 1]
    finally:
        for task in running:
            task.cancel()


async def test_a_role_stopped_while_it_leads_stops_though_giving_up_fails(leases):
    """At shutdown the role's loop is cancelled while a lead is under way, and what it then
    does to give up (follow, release) may fail as the pool closes: the cancellation still
    ends the loop, or the process never exits."""
    leading = asyncio.Event()

    async def lead(may_commit, epoch) -> None:
        leading.set()
        await asyncio.Event().wait()  # the fence's barrier, say: cancelled here

    async def follow() -> None:
        if leading.is_set():
            raise RuntimeError("pool is closed")

    role = ChatWriterRole(leases, "stopping", lead=lead, follow=follow, ttl=2.0,
                          renew_every=0.5, try_every=0.05)
    running = asyncio.create_task(role.run())
    await asyncio.wait_for(leading.wait(), 5)
    running.cancel()
    done, _ = await asyncio.wait([running], timeout=3)
    assert done and running.cancelled()


async def test_metrics_say_whether_this_instance_leads_and_how_many_leads_failed(leases):
    """What an operator watches for a cluster where no instance can lead (chat writes
    refused everywhere while /ready says ok)."""
    from nirvana.metrics import Metrics

    fence = FailingLead()
    role = ChatWriterRole(leases, "watched", lead=fence.lead, follow=fence.follow, ttl=2.0)
    metrics = Metrics()
    metrics.watch_chat_writer_role(role.is_writer, role.failed_leads)

    def scraped() -> dict[str, str]:
        lines = metrics.exposition().decode().splitlines()
        return {n: v for n, _, v in (line.partition(" ") for line in lines)
                if n in ("nirvana_chat_writer_leading", "nirvana_chat_writer_failed_leads")}

    await role.start(), await role.start()  # each try fails, quietly
    assert scraped() == {"nirvana_chat_writer_leading": "0.0",
                         "nirvana_chat_writer_failed_leads": "2.0"}
    fence.fails = False
    await role.start()
    assert scraped() == {"nirvana_chat_writer_leading": "1.0",
                         "nirvana_chat_writer_failed_leads": "0.0"}
    await role.release()
    assert scraped()["nirvana_chat_writer_leading"] == "0.0"


async def test_ready_says_who_writes_chat_and_when_no_instance_can(leases, services, settings):
    """An operator (or a monitor) reads from /ready whether any instance writes chat: a
    cluster whose every lead fails answers chat writes `unavailable` everywhere, while each
    instance still serves the rest, so /ready stays 200."""
    fence = FailingLead()
    first = ChatWriterRole(leases, "first", lead=fence.lead, follow=fence.follow, ttl=2.0)
    second = ChatWriterRole(leases, "second", lead=fence.lead, follow=fence.follow, ttl=2.0)
    await first.start(), await second.start()  # both leads fail: the lease is given back
    for role in (first, second):
        r = await ready_with(services, settings, role)
        assert r.status_code == 200
        assert r.json() == {"status": "ok", "postgres": "ok", "mongodb": "ok",
                            "chat_writer": "none"}
    fence.fails = False
    await first.start()
    assert (await ready_with(services, settings, first)).json()["chat_writer"] == "here"
    assert (await ready_with(services, settings, second)).json()["chat_writer"] == "elsewhere"
    await first.release()
    assert (await ready_with(services, settings, second)).json()["chat_writer"] == "none"


async def test_ready_says_unknown_when_the_lease_cannot_be_read(services, settings):
    class Unreachable(PgLeases):
        async def current(self, name):
            raise ConnectionRefusedError("PostgreSQL is down")

    fence = FailingLead()
    role = ChatWriterRole(Unreachable(services.pool), "cut-off", lead=fence.lead,
                          follow=fence.follow)
    r = await ready_with(services, settings, role)
    assert r.status_code == 200 and r.json()["chat_writer"] == "unknown"


async def test_a_stopping_writer_keeps_the_lease_until_it_gives_it_back(leases):
    """At a clean stop the writer steps down first (nothing commits), then sends its last
    answers and words, and only then gives the lease back: no instance leads before."""
    first, second = Instance(leases, "first"), Instance(leases, "second")
    await first.role.start(), await second.role.start()
    await first.role.step_down()
    assert first.told[-1] == "follow" and not first.role.is_writer()
    assert first.role.still_holds()  # so its "let go" may still be sent
    await second.role.start()
    assert not second.role.is_writer() and "lead" not in second.told
    await first.role.give_back()
    assert not first.role.still_holds()
    await second.role.start()
    assert second.role.is_writer()


async def test_a_stopping_writer_whose_lease_lapsed_by_its_clock_no_longer_holds_it(leases):
    """A stop that outlasts the lease (here a TTL that leaves no margin at all): another
    instance may lead, so the stopping one must not send "let go" (Services.close)."""
    brief = Instance(leases, "brief", ttl=1.0)
    await brief.role.start()
    assert brief.told[-1] == "lead" and not brief.role.is_writer()
    await brief.role.step_down()
    assert not brief.role.still_holds()
    await brief.role.give_back()
