"""A change to one part of a conversation (another message, the group's name) that read the
conversation while its last message was the text an erasure then removed: the change's
answer and the `conversation.updated` frames it sends carry the conversation's last
message, which must be the tombstone, not the text (nor its attachment) read before. In one
process and with the chat writer fenced as with several instances (storage/mongo/fence.py);
over the real MongoDB-wire store."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from nirvana.domain.chat.entities import Attachment, Conversation, MessageDraft, MessageKind
from nirvana.domain.chat.service import ChatService
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.collections import ChatCollections
from tests.support.chat_writers import chat_on, queue, send
from tests.support.erasure_steps import ErasureSteps
from tests.support.live_frames import live_frames, texts_in

SECRET = Attachment("https://files.example/secret.png", MessageKind.IMAGE, "secret.png", 10)

CHANGES = {
    "reaction to another message": lambda chat, a, cid: chat.react(a, cid, 1, "👍"),
    "hide of another message": lambda chat, a, cid: chat.delete_message(
        a, cid, 1, for_everyone=False),
    "group rename": lambda chat, a, cid: chat.update_group(a, cid, {"name": "renamed"}),
}


async def group_with_secret(services, chats, writers, fenced: bool, *, flushed: bool = True,
                            **store_args: Any
                            ) -> tuple[MongoChatStore, ErasureSteps, ChatService, Conversation]:
    """A group of a and b: a's "mine" (seq 1), then b's "secret" with an image (seq 2, the
    last message; its summary written when `flushed`, else "mine" is the stored last
    message and "secret" is only buffered), on a new writer (`fenced`: leading at epoch 1)
    whose changes go through ErasureSteps."""
    a, b, _, _ = chats
    store = MongoChatStore(**store_args)
    writers.append(store)
    if fenced:
        await store.lead(lambda: True, 1)
    steps = ErasureSteps()
    chat = chat_on(store, services, steps)
    group = await chat.create_group(a, "team", [b])
    await send(store, group, a, "mine")
    if not flushed:
        await store.summaries.flush()
    await queue(store, MessageDraft(group.id, b, "secret", MessageKind.IMAGE, "secret",
                                    (SECRET,), None, (a, b), datetime.now(timezone.utc)))
    if flushed:
        await store.summaries.flush()
    return store, steps, chat, group


@pytest.mark.parametrize("change", sorted(CHANGES))
@pytest.mark.parametrize("fenced", [False, True], ids=["one process", "fenced"])
async def test_a_change_that_read_the_erased_last_message_answers_the_tombstone(
        services, chats, writers, change, fenced):
    """In a group of a and b, a's "mine" (seq 1), then b's "secret" with an image, the
    conversation's last message. a changes seq 1 or renames the group; the change reads the
    conversation, then b's erasure runs its first phase (which tombstones the last message),
    then the change writes, meeting no conflict (it writes neither b's message nor the
    state's last message). Its answer and every frame to a and b show the last message erased:
    no text, no attachment."""
    a, b, _, _ = chats
    store, steps, chat, group = await group_with_secret(services, chats, writers, fenced)
    steps.after_conversation_read = steps.first_phase_of(chat, b)
    async with live_frames(services.hub, a, await store.head()) as to_a, \
            live_frames(services.hub, b, await store.head()) as to_b:
        answer: Any = await CHANGES[change](chat, a, group.id)
        frames = await to_a.read() + await to_b.read()
    assert steps.erasing is not None
    await steps.erasing
    assert any('"conversation.updated"' in f for f in frames)
    assert not [f for f in frames if any("secret" in t for t in texts_in(f))]
    if change == "group rename":
        assert answer.name == "renamed"
        last = answer.last_message
        assert last.seq == 2 and last.deleted and last.text == "" and not last.attachments
    state = await ChatCollections().states.find_one({"_id": group.id})
    assert state["last_message"]["text"] == "" and state["last_message"]["attachments"] == []


@pytest.mark.parametrize("fenced", [False, True], ids=["one process", "fenced"])
async def test_a_summary_buffered_before_the_erasure_never_shows_its_text(
        services, chats, writers, fenced):
    """In a group of a and b, a's "mine" (seq 1) is the stored last message; b's "secret"
    with an image (seq 2) is acknowledged, its summary buffered, not written, when b's
    erasure starts (so its first phase's tombstone of last messages matches nothing).
    Held between its phases: a's conversation list shows seq 2 erased, and a's reaction to
    seq 1 (whose op first writes the buffered summary) answers and announces no text or
    attachment of it."""
    a, b, _, _ = chats
    store, steps, chat, group = await group_with_secret(  # written by the test's steps only
        services, chats, writers, fenced, flushed=False, summary_interval=3600)
    between = asyncio.Event()
    steps.after_first_phase = between.wait
    erasing = asyncio.create_task(chat.erase_sender(b))
    await steps.states_erased.wait()
    [listed] = [c for c in (await chat.conversations(a)).items if c.id == group.id]
    last = listed.last_message
    assert last.seq == 2 and last.deleted and last.text == "" and not last.attachments
    async with live_frames(services.hub, a, await store.head()) as to_a, \
            live_frames(services.hub, b, await store.head()) as to_b:
        answer = await chat.react(a, group.id, 1, "👍")
        frames = await to_a.read() + await to_b.read()
    between.set()
    await erasing
    assert answer.text == "mine"
    assert any('"conversation.updated"' in f for f in frames)
    assert not [f for f in frames if any("secret" in t for t in texts_in(f))]
    state = await ChatCollections().states.find_one({"_id": group.id})
    assert state["last_message"]["text"] == "" and state["last_message"]["attachments"] == []


@pytest.mark.parametrize("fenced", [False, True], ids=["one process", "fenced"])
async def test_a_change_reads_the_last_message_after_its_commit(
        services, chats, writers, fenced):
    """a's reaction to seq 1 is held after its message write (in the fenced transaction,
    before its commit) while b's erasure runs its first phase, which tombstones b's
    "secret", the last message: the reaction's answer and frames show the tombstone, as
    they do only if it reads the last message after its commit."""
    a, b, _, _ = chats
    store, steps, chat, group = await group_with_secret(services, chats, writers, fenced)
    steps.after_message_write = steps.first_phase_of(chat, b)
    async with live_frames(services.hub, a, await store.head()) as to_a, \
            live_frames(services.hub, b, await store.head()) as to_b:
        await chat.react(a, group.id, 1, "👍")
        frames = await to_a.read() + await to_b.read()
    assert steps.erasing is not None
    await steps.erasing
    assert any('"conversation.updated"' in f for f in frames)
    assert not [f for f in frames if any("secret" in t for t in texts_in(f))]


def updated_last_messages(frames: list[str]) -> list[Any]:
    return [json.loads(f)["conversation"]["last_message"] for f in frames
            if '"conversation.updated"' in f]


@pytest.mark.parametrize("change", ["reaction to another message", "reaction to the last",
                                    "group rename"])
async def test_a_change_whose_last_message_read_fails_is_still_answered_and_announced(
        services, chats, writers, change):
    """The change commits, then its read of the conversation's last message fails (the
    store went away): the change is answered and its event sent, and `conversation.updated`
    carries the message it wrote when that is the last one, else no last message (never
    the copy read before its write); the recent page shows the change."""
    a, b, _, _ = chats
    store = MongoChatStore()
    writers.append(store)
    steps = ErasureSteps()
    chat = chat_on(store, services, steps)
    group = await chat.create_group(a, "team", [b])
    await chat.send_message(a, group.id, client_id="one", text="one")
    await chat.send_message(b, group.id, client_id="two", text="two")

    async def fail_the_next_read() -> None:
        steps.fail_state_read = AutoReconnect("the store went away")
    if change == "group rename":
        steps.before_states_bulk = fail_the_next_read
    else:
        steps.after_message_write = fail_the_next_read
    async with live_frames(services.hub, a, await store.head()) as to_a:
        if change == "group rename":
            answer: Any = await chat.update_group(a, group.id, {"name": "renamed"})
            assert answer.name == "renamed" and answer.last_message is None
        else:
            answer = await chat.react(a, group.id, 1 if "another" in change else 2, "👍")
            assert answer.reactions == (("👍", (a,)),)
        frames = await to_a.read()
    assert steps.fail_state_read is None  # it was read, and failed
    events = [json.loads(f)["type"] for f in frames]
    assert ("group.updated" if change == "group rename" else "reaction") in events
    [last] = updated_last_messages(frames)
    if change == "reaction to the last":
        assert last["seq"] == 2 and last["reactions"] == {"👍": [a]}
    else:
        assert last is None
    if change != "group rename":
        page = await chat.history(a, group.id)
        assert page[answer.seq - 1].reactions == (("👍", (a,)),)
