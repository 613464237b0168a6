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

    def __init__(self, leases: PgLeases, name: str, ttl: float = 2.0) -> None:
        self.told: list[str] = []
        self.epochs: list[int] = []  # the epoch each lead was told to fence the store at
        self.role = ChatWriterRole(leases, name, lead=self._lead, follow=self._follow,
                                   ttl=ttl, renew_every=ttl / 3, try_every=0.1)

    async def _lead(self, may_commit, epoch) -> None:
        self.told.append("lead")
        self.epochs.append(epoch)

    async def _follow(self) -> None:
        self.told.append("follow")


@pytest.fixture
async def leases(services):  # `services` empties the tables for this test
    return PgLeases(services.pool)


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
