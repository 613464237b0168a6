"""A deleted account's chat erasure after what used to outlast it: a second phase that
failed (tried again within seconds, not at housekeeping's next hour), and a change of chat
writer (the next one refuses the account's sends too, however long after the deletion).
Over the real PostgreSQL and MongoDB-wire store; with real instances:
tests/e2e/test_cluster_chat_erasure.py."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from pymongo.errors import AutoReconnect

from nirvana.domain.accounts.deletion import AccountDeleted
from nirvana.domain.errors import AuthenticationError
from nirvana.storage.cached_users import CachedUserRepository
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.postgres.accounts import PgDeletedAccounts, PgUserRepository
from nirvana.tasks import cancel_and_wait
from nirvana.wiring.account_deletion import AfterAccountDeletion
from nirvana.wiring.accounts import build_erasure
from nirvana.wiring.instances import cluster_chat
from nirvana.wiring.media import build_media
from tests.support.account_deletion import delete_without_password
from tests.support.chat_writers import chat_on, send
from tests.support.erasure_steps import copies_of, erasing_chat
from tests.support.waiting import wait_until


async def test_a_second_phase_that_fails_once_is_tried_again_within_seconds(
        services, settings, chats, writers):
    """b's account is deleted; the erasure's second phase fails (the store aborts its last
    write). The text phase 1 did not reach stays until the erasure runs again: that run
    comes after the first of the retry waits (here 0.05 s; seconds in production), not at
    housekeeping's next hour, and finishes it."""
    a, b, with_b, _ = chats
    steps, chat = erasing_chat(services, writers)
    await chat.send_message(b, with_b.id, client_id="s", text="secret")
    await delete_without_password(PgUserRepository(services.pool), b, services.clock.now())
    steps.fail_last_writes = AutoReconnect("the store went away")
    background: set[asyncio.Task] = set()
    erasure = build_erasure(services.pool, services.clock, chat,
                            build_media(settings, services.pool))
    after = AfterAccountDeletion(services.blogs, erasure, background, retry_waits=(0.05,))
    try:
        after.publish(AccountDeleted(b, services.clock.now()))
        await wait_until(lambda: steps.fail_last_writes is None, "the failed second phase")

        async def erased() -> bool:
            pending = await PgDeletedAccounts(services.pool).awaiting_erasure()
            return b not in pending and await copies_of("secret") == 0
        await wait_until(erased, "the erasure tried again")
    finally:
        for task in list(background):
            await cancel_and_wait(task)


async def test_a_writer_that_takes_over_long_after_a_deletion_refuses_the_accounts_send(
        services, settings, chats, writers):
    """b is deleted a day before the chat-writer lease moves, by another instance (this one
    kept b in its user cache and missed the word). An instance that never heard of the
    deletion (cut from PostgreSQL) still forwards b's send; the writer that took over runs
    its checks and refuses it `unknown_user`: no window after the deletion bounds this."""
    a, b, with_b, with_c = chats
    first = MongoChatStore()
    writers.append(first)
    await send(first, with_b, b, "secret")
    users = CachedUserRepository(PgUserRepository(services.pool))
    assert await users.get(b) is not None  # kept from before the deletion
    await delete_without_password(PgUserRepository(services.pool), b,
                                  services.clock.now() - timedelta(days=1))
    await chat_on(first, services).erase_sender(b)
    assert await copies_of("secret") == 0
    taking_over = MongoChatStore()
    writers.append(taking_over)
    bus, role, chat = cluster_chat(replace(settings, redis_url="redis://127.0.0.1:9"),
                                   services.pool, taking_over,
                                   chat_on(taking_over, services, users=users), users)
    try:
        await role.start()
        assert role.is_writer()
        # What the writer runs for a forwarded send (chat_forwarding.py ChatCommandServer).
        with pytest.raises(AuthenticationError) as refused:
            await chat.send_message(b, with_b.id, client_id="late", text="late")
        assert refused.value.code == "unknown_user"
        assert await copies_of("late") == 0
        sent, _ = await chat.send_message(a, with_c.id, client_id="here", text="still here")
        assert sent.seq == 1  # the others' sends are stored
    finally:
        await role.release()
        await bus.close()


async def test_an_erasure_asked_for_while_it_runs_joins_that_run(services, chats, writers):
    """b's erasure is asked for again while its first run scans the store (a try whose
    asker stopped waiting and the next try, housekeeping, another instance's): the second
    call waits for the run under way and ends with it; the store is scanned once."""
    a, b, with_b, _ = chats
    steps, chat = erasing_chat(services, writers)
    await chat.send_message(b, with_b.id, client_id="s", text="secret")
    scanned, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        scanned.set()
        await release.wait()
    steps.after_first_phase = hold
    runs = [asyncio.ensure_future(chat.erase_sender(b))]
    try:
        await asyncio.wait_for(scanned.wait(), 10)
        runs.append(asyncio.ensure_future(chat.erase_sender(b)))
        await asyncio.sleep(0)  # the second call is made
        release.set()
        await asyncio.wait_for(asyncio.gather(*runs), 10)
        assert steps.first_phases == 1
        assert await copies_of("secret") == 0
    finally:
        for run in runs:
            await cancel_and_wait(run)
