"""A chat writer's change that the store aborts (a write conflict, here with another
transaction on the message: fence.py `writes` runs it again): a live writer's lands, a
deposed writer's is refused. Fenced (instances) and in one process, whose changes are
transactions too. Over the real MongoDB-wire store; the conflict is the store's own answer
(tests/support/write_conflicts.py)."""

from __future__ import annotations

import asyncio

import pytest

from nirvana.domain.chat.errors import MessageDeletedError
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.collections import ChatCollections
from nirvana.storage.mongo.fence import ATTEMPTS, FencedOutError
from tests.support.chat_writers import (chat_on, chat_writer, draft, queue, send,
                                        writer_with_secret)
from tests.support.write_conflicts import ConflictingCollections


async def stored_text(conversation_id: str, seq: int) -> str:
    d = await ChatCollections().messages.find_one({"conversation_id": conversation_id,
                                                   "seq": seq})
    return d["text"]


ONE_PROCESS_OR_FENCED = pytest.mark.parametrize("fenced", [False, True],
                                                ids=["one process", "fenced"])


@ONE_PROCESS_OR_FENCED
async def test_a_live_writers_change_that_meets_a_write_conflict_lands_on_retry(
        services, chats, writers, fenced):
    a, b, with_b, _ = chats
    store = await chat_writer(writers, fenced)
    await send(store, with_b, a, "m")
    db = ConflictingCollections()
    db.conflicts = 1
    edited = await chat_on(store, services, db).edit_message(a, with_b.id, 1, "edited")
    assert edited.text == "edited"
    [conflict] = db.met  # the store's answer to the first try
    assert conflict.has_error_label("TransientTransactionError")
    assert await stored_text(with_b.id, 1) == "edited"
    assert not store.writer.stepped_down
    assert (await send(store, with_b, a, "next")).seq == 2


@ONE_PROCESS_OR_FENCED
async def test_a_change_that_keeps_meeting_conflicts_is_answered_retry(
        services, chats, writers, fenced):
    """Bounded: after ATTEMPTS aborted tries the sender hears "retry", and the writer,
    not refused, keeps leading."""
    a, b, with_b, _ = chats
    store = await chat_writer(writers, fenced)
    await send(store, with_b, a, "m")
    db = ConflictingCollections()
    db.conflicts = ATTEMPTS + 1
    with pytest.raises(FencedOutError) as failed:
        await chat_on(store, services, db).edit_message(a, with_b.id, 1, "edited")
    assert failed.value.stamped is None and failed.value.code == "unavailable"
    assert str(failed.value) == "The store aborted the write; retry."
    assert len(db.met) == ATTEMPTS
    assert await stored_text(with_b.id, 1) == "m"
    assert not store.writer.stepped_down
    assert (await send(store, with_b, a, "next")).seq == 2


async def test_a_deposed_writers_change_is_not_retried_into_success(
        services, chats, writers):
    """The next writer takes over while the deposed writer's first try meets a conflict:
    the retry's check is refused (its epoch), and nothing of the change is stored."""
    a, b, with_b, _ = chats
    old, new = MongoChatStore(), MongoChatStore()
    writers += [old, new]
    await old.lead(lambda: True, 1)
    await send(old, with_b, a, "m")
    await old.summaries.flush()  # so only the change's own transaction meets the fence
    db = ConflictingCollections()
    db.conflicts = 1
    db.then = lambda: new.lead(lambda: True, 2)
    with pytest.raises(FencedOutError) as refused:
        await chat_on(old, services, db).edit_message(a, with_b.id, 1, "edited")
    assert len(db.met) == 1
    assert refused.value.stamped == 1 and old.writer.stepped_down
    assert await stored_text(with_b.id, 1) == "m"
    assert (await chat_on(new, services).edit_message(a, with_b.id, 1, "new")).text == "new"


@ONE_PROCESS_OR_FENCED
async def test_a_change_that_met_an_erasure_plans_again_from_the_erased_message(
        services, chats, writers, fenced):
    """a reacts to b's message (the conversation's last) while b's account is erased: the
    erasure commits between the change's read and its write, which meets it as a write
    conflict. The retry reads again, finds the message erased and is refused (a reaction
    to a deleted message); the text stays erased, in the summary too. Rerun blind, the
    change's plan, made from "secret", would have put it back."""
    a, b, with_b, _ = chats
    store = await writer_with_secret(chats, writers, fenced)
    db = ConflictingCollections()
    db.conflicts, db.erasing = 1, b
    with pytest.raises(MessageDeletedError):
        await chat_on(store, services, db).react(a, with_b.id, 1, "👍")
    assert len(db.met) == 1
    stored = await ChatCollections().messages.find_one({"conversation_id": with_b.id})
    assert stored["text"] == "" and stored["deleted"] and not stored.get("reactions")
    state = await ChatCollections().states.find_one({"_id": with_b.id})
    assert state["last_message"]["text"] == "" and state["last_message"]["deleted"]
    assert await ChatCollections().events.count_documents({"message.text": "secret"}) == 0
    assert not store.writer.stepped_down


async def test_a_take_back_aborted_every_try_is_asked_again_and_the_batch_lands(
        services, chats, writers):
    """A batch with a retry of a stored message takes back its other message of that
    conversation (sends.py `_sort_out`), a fenced delete. The store aborts it ATTEMPTS
    times (fence.py `Aborted`): it is asked again, as a store's error is, and lands; the
    senders are answered, the message taken back is numbered again, no seq gap."""
    a, b, with_b, _ = chats
    db = ConflictingCollections()
    store = MongoChatStore(db=db)
    writers.append(store)
    await store.lead(lambda: True, 1)
    old = await send(store, with_b, a, "old")
    db.delete_conflicts = ATTEMPTS
    (again, created_again), (n, created) = await asyncio.gather(
        queue(store, draft(with_b, a, "old")), queue(store, draft(with_b, b, "n")))
    assert len(db.met) == ATTEMPTS  # the take-back's tries the store aborted
    assert not created_again and again.seq == old.seq == 1
    assert created and n.seq == 2
    seqs = [d["seq"] async for d in ChatCollections().messages.find(
        {"conversation_id": with_b.id}).sort("seq")]
    assert seqs == [1, 2]
    assert (await send(store, with_b, a, "next")).seq == 3
