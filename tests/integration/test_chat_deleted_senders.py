"""A deleted account acts on nothing in chat, however the chat writer heard (or did not
hear) of the deletion: the writer checks that the acting account exists
(domain/accounts/standing.py AccountExists) from the deletions every instance reloads each
second, then from its user cache, which never keeps a read that raced the deletion. Here
no erasure ran, so nothing else refuses the account (the writer's refused senders hold an
account only for minutes after its erasure). Over the real PostgreSQL and MongoDB-wire
store."""

from __future__ import annotations

import asyncio

import pytest

from nirvana.domain.chat.entities import ReceiptKind, Role
from nirvana.domain.chat.service import ACTS_FOR_A_USER
from nirvana.domain.errors import AuthenticationError
from nirvana.storage.cached_users import CachedUserRepository
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.postgres.accounts import PgUserRepository
from nirvana.wiring.cluster_chat import WRITER_BOUND
from tests.support.account_deletion import delete_without_password
from tests.support.chat_writers import chat_on
from tests.support.erasure_steps import copies_of
from tests.support.waiting import wait_until


def writer_of(services, writers):
    """The chat service of a new writer and the user cache its checks read."""
    store = MongoChatStore()
    writers.append(store)
    users = CachedUserRepository(PgUserRepository(services.pool))
    return chat_on(store, services, users=users), users


async def refused_to_send(chat, who: int, conversation_id: str) -> None:
    with pytest.raises(AuthenticationError) as refused:
        await chat.send_message(who, conversation_id, client_id="late", text="late")
    assert refused.value.code == "unknown_user"
    assert await copies_of("late") == 0


async def test_a_read_made_while_the_writer_deletes_the_account_is_not_kept(
        services, chats, writers):
    """b deletes the account on the writer's instance, and b's send (from an instance that
    has not heard) is checked while the deletion's transaction waits: the check reads b's
    row, still there, and the send goes through. Once the deletion is done, b's next send
    is refused: the row read during the deletion was not kept in the user cache."""
    a, b, _, _ = chats
    chat, users = writer_of(services, writers)
    group = await chat.create_group(a, "g", [b])
    async with services.pool.acquire() as lock, lock.transaction():
        await lock.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", b)
        # The writer's own users.delete (Accounts.delete_account's), without its notice
        # to the sessions: here only the cache is asked.
        deleting = asyncio.ensure_future(
            delete_without_password(users, b, services.clock.now()))
        try:
            await wait_until(lambda: services.pool.fetchval(
                "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = "
                "current_database() AND wait_event_type = 'Lock'"), "the deletion waiting")
            await chat.send_message(b, group.id, client_id="during", text="during")
        except BaseException:
            deleting.cancel()
            raise
    await deleting
    await refused_to_send(chat, b, group.id)


async def test_a_deletion_the_writer_was_never_told_of_is_refused_once_reloaded(
        services, chats, writers):
    """b is deleted by another instance that stopped before telling the others (its
    "changed" notice never sent): the writer's user cache still holds b. The deletions
    every instance reloads from PostgreSQL each second refuse b's send all the same."""
    a, b, _, _ = chats
    chat, users = writer_of(services, writers)
    group = await chat.create_group(a, "g", [b])
    await chat.send_message(b, group.id, client_id="before", text="before")  # b is kept
    await delete_without_password(PgUserRepository(services.pool), b, services.clock.now())
    await services.accounts.load_revocations()  # as each instance does every second
    await refused_to_send(chat, b, group.id)


def test_every_writer_bound_use_case_is_checked_for_an_existing_account():
    """What goes through the writer acts for a user (but the erasure, which acts for no one
    signed in): a new writer-bound use case must be listed. Listed, it is wrapped, but for
    `CHECK_THEIR_OWN`, whose check is in Messaging: the behavioural test below keeps those
    honest."""
    assert WRITER_BOUND - {"erase_sender"} <= ACTS_FOR_A_USER


async def test_every_use_case_that_acts_for_a_user_refuses_a_deleted_account(
        services, chats, writers):
    """b owned a group and wrote in it. Once b is deleted, each use case that acts for b
    (writer-bound ones forwarded from an instance that has not heard: with a token good for
    minutes b could rename the group, rewrite its description, remove members, react; or
    create a group of its own, open a direct conversation) is refused `unknown_user`, and
    the group is as b left it, and b has no other conversation."""
    a, b, _, _ = chats
    chat, users = writer_of(services, writers)
    group = await chat.create_group(b, "b's group", [a])
    said, _ = await chat.send_message(b, group.id, client_id="hi", text="hi")
    held_by_b = (await chat.conversations(b)).items
    await delete_without_password(users, b, services.clock.now())
    g, seq = group.id, said.seq
    calls = {
        "submit_message": lambda: chat.submit_message(b, g, client_id="x1", text="x"),
        "send_message": lambda: chat.send_message(b, g, client_id="x2", text="x"),
        "mark": lambda: chat.mark(b, g, ReceiptKind.READ, seq),
        "edit_message": lambda: chat.edit_message(b, g, seq, "rewritten"),
        "delete_message": lambda: chat.delete_message(b, g, seq, for_everyone=True),
        "remove_as_moderator": lambda: chat.remove_as_moderator(b, g, seq),
        "react": lambda: chat.react(b, g, seq, "👍", True),
        "update_group": lambda: chat.update_group(b, g, {"name": "renamed",
                                                         "description": "new text"}),
        "add_members": lambda: chat.add_members(b, g, [b]),
        "remove_members": lambda: chat.remove_members(b, g, [a]),
        "leave_group": lambda: chat.leave_group(b, g),
        "set_role": lambda: chat.set_role(b, g, a, Role.ADMIN),
        "create_group": lambda: chat.create_group(b, "new", []),
        "create_group_once": lambda: chat.create_group_once(b, "new", [], None, None, None),
        "open_direct": lambda: chat.open_direct(b, a),
        "send_direct": lambda: chat.send_direct(b, a, client_id="x3", text="x"),
    }
    assert set(calls) == ACTS_FOR_A_USER  # a new one is added here
    for name, call in calls.items():
        with pytest.raises(AuthenticationError) as refused:
            await call()
        assert refused.value.code == "unknown_user", name
    [held] = [c for c in (await chat.conversations(a)).items if c.id == g]
    assert (held.name, held.description, sorted(held.member_ids)) == (
        "b's group", None, sorted([a, b]))
    assert [(m.text, m.reactions) for m in await chat.history(a, g)] == [("hi", ())]
    assert (await chat.conversations(b)).items == held_by_b
