"""A deleted account's chat erasure after what used to outlast it: a second phase that
failed (tried again within seconds, not at housekeeping's next hour), and a change of chat
writer (the next one refuses the account's sends too). Over the real PostgreSQL and
MongoDB-wire store; with real instances: tests/e2e/test_cluster_chat_erasure.py."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from pymongo.errors import AutoReconnect

from nirvana.domain.accounts.deletion import AccountDeleted
from nirvana.domain.errors import AuthenticationError
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.postgres.accounts import PgDeletedAccounts, PgUserRepository
from nirvana.wiring.account_deletion import AfterAccountDeletion
from nirvana.wiring.accounts import build_erasure
from nirvana.wiring.instances import cluster_chat
from nirvana.wiring.media import build_media
from tests.support.chat_writers import chat_on, draft, send
from tests.support.erasure_steps import copies_of, erasing_chat
from tests.support.waiting import wait_until


async def test_a_second_phase_that_fails_once_is_tried_again_within_seconds(
        services, settings, chats, writers):
    """b's account is deleted; the erasure's second phase fails (the store aborts its last
    write). The text phase 1 did not reach stays until the erasure runs again: that run
    comes a few seconds later, not at housekeeping's next hour, and finishes it."""
    a, b, with_b, _ = chats
    steps, chat = erasing_chat(services, writers)
    await chat.send_message(b, with_b.id, client_id="s", text="secret")
    await PgUserRepository(services.pool).delete(b, services.clock.now())
    steps.fail_last_writes = AutoReconnect("the store went away")
    background: set[asyncio.Task] = set()
    erasure = build_erasure(services.pool, services.clock, chat,
                            build_media(settings, services.pool))
    after = AfterAccountDeletion(services.blogs, erasure, background)
    try:
        after.publish(AccountDeleted(b, services.clock.now()))
        await wait_until(lambda: steps.fail_last_writes is None, "the failed second phase")

        async def erased() -> bool:
            pending = await PgDeletedAccounts(services.pool).awaiting_erasure()
            return b not in pending and await copies_of("secret") == 0
        await wait_until(erased, "the erasure tried again", timeout=10)
    finally:
        for task in background:
            task.cancel()


async def test_a_writer_that_takes_over_refuses_the_sends_of_an_account_erased_before(
        services, settings, chats, writers):
    """The writer that erased b's text refuses b's sends in its own memory only. The next
    writer (it takes the chat-writer lease: wiring/instances.py's lead) reads b's deletion
    from PostgreSQL before it commits anything, and refuses the send of b that reaches it
    (forwarded by an instance that had not heard of the deletion yet)."""
    a, b, with_b, _ = chats
    first = MongoChatStore()
    writers.append(first)
    await send(first, with_b, b, "secret")
    await PgUserRepository(services.pool).delete(b, services.clock.now())
    await chat_on(first, services).erase_sender(b)
    assert await copies_of("secret") == 0
    taking_over = MongoChatStore()
    writers.append(taking_over)
    bus, role, _ = cluster_chat(replace(settings, redis_url="redis://127.0.0.1:9"),
                                services.pool, taking_over, chat_on(taking_over, services),
                                services.clock)
    try:
        await role.start()
        assert role.is_writer()
        with pytest.raises(AuthenticationError) as refused:
            await taking_over.append(draft(with_b, b, "late"))
        assert refused.value.code == "unknown_user"
        assert await copies_of("late") == 0
        assert (await send(taking_over, with_b, a, "still here")).seq == 2
    finally:
        await role.release()
        await bus.close()
