"""A change whose caller stopped waiting, and which lands later (a store slow for longer than
twice the store timeout answers `store_timeout`; an HTTP route's deadline, a little past one
store timeout, cancels the use case first): the chat service's cache must show it once it
lands, also when a page or conversation was read and cached between the answer and the
landing, and its live event must reach the members then, in position order with what the
writer commits after it, as a send that lands late does. Over the real MongoDB-wire store,
the chat service's own cache and a recording publisher."""

from __future__ import annotations

import asyncio

import pytest

from nirvana.domain.chat.entities import EventType
from nirvana.domain.chat.errors import NotMemberError
from nirvana.domain.errors import UnavailableError
from nirvana.storage.mongo.chat_store import MongoChatStore
from tests.support.chat_writers import chat_on
from tests.support.erasure_steps import ErasureSteps
from tests.support.fakes_chat import PositionsPublisher, RecordingPublisher
from tests.support.held_writer import STOPS_WAITING, answered_store_timeout, writer_held


def _chat(services, writers, db=None):
    store = MongoChatStore()
    writers.append(store)
    published = PositionsPublisher()
    return store, chat_on(store, services, db, publisher=published), published


async def _nothing(next_pos) -> None:
    return None


def _types(published: RecordingPublisher) -> list[str]:
    return [e[0] for e in published.events]


CHANGES = {
    # A change to message 2, its event, and b's page (text, reactions) once it landed.
    "edit": (lambda chat, a, b, cid: chat.edit_message(a, cid, 2, "two, edited"),
             EventType.MESSAGE_EDITED, lambda a: [("one", ()), ("two, edited", ())]),
    "delete for everyone": (
        lambda chat, a, b, cid: chat.delete_message(a, cid, 2, for_everyone=True),
        EventType.MESSAGE_DELETED, lambda a: [("one", ()), ("", ())]),
    "delete for me": (
        lambda chat, a, b, cid: chat.delete_message(b, cid, 2, for_everyone=False),
        EventType.MESSAGE_DELETED, lambda a: [("one", ())]),
    "reaction": (lambda chat, a, b, cid: chat.react(a, cid, 2, "👍"),
                 EventType.REACTION, lambda a: [("one", ()), ("two", (("👍", (a,)),))]),
}


@pytest.mark.parametrize("stop", list(STOPS_WAITING))
@pytest.mark.parametrize("name", list(CHANGES))
async def test_a_message_change_that_lands_after_its_caller_left_is_shown_and_announced(
        services, chats, writers, name, stop):
    a, b, with_b, _ = chats
    change, event_type, shown_to = CHANGES[name]
    shown = shown_to(a)
    steps = ErasureSteps()
    store, chat, published = _chat(services, writers, steps)
    for text in ("one", "two"):
        await chat.send_message(a, with_b.id, client_id=text, text=text)
    taken, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        taken.set()
        await release.wait()
    # The writer has taken the change (read and planned it) and holds it before its write.
    steps.before_message_write = hold
    kept, store.writer.timeout = store.writer.timeout, 0.05  # answered after twice this
    try:
        changing = asyncio.create_task(STOPS_WAITING[stop](change(chat, a, b, with_b.id)))
        await asyncio.wait_for(taken.wait(), 10)
        await changing
        # Read (and cached) after the answer, before the change lands.
        assert [m.text for m in await chat.history(b, with_b.id)] == ["one", "two"]
        assert (await chat.conversation_for(b, with_b.id)).last_message.text == "two"
        published.events.clear()
        # Queued after the writer took the change: committed in a later batch, after it.
        sending = await chat.submit_message(a, with_b.id, client_id="three", text="three")
        await answered_store_timeout(sending)
    finally:
        store.writer.timeout = kept
        release.set()
    await asyncio.wait_for(store.serialized(_nothing), 10)  # queued behind both: both ended
    assert _types(published) == [event_type.value, "message"]
    assert published.positions == sorted(published.positions)
    page = await chat.history(b, with_b.id)
    assert [(m.text, m.reactions) for m in page] == [*shown, ("three", ())]


async def test_a_change_whose_caller_is_cancelled_as_it_ends_is_announced_before_what_follows(
        services, chats, writers):
    """The caller is cancelled after the change ended, before it woke to the answer (an HTTP
    route's deadline at that moment): the change is announced all the same, once, and
    before the writer goes on to what is queued behind it."""
    a, b, with_b, _ = chats
    store, chat, published = _chat(services, writers)
    for text in ("one", "two"):
        await chat.send_message(a, with_b.id, client_id=text, text=text)
    published.events.clear()
    seen: list[list[str]] = []

    async def next_write(next_pos) -> None:
        # Run by the writer in the same step that answered the edit: its caller has not
        # woken to the answer yet, and is cancelled now.
        seen.append(_types(published))
        editing.cancel()
    async with writer_held(store, bound=None):
        # Queued by each task's first step, in this order, before the hold is let go (the
        # writer wakes after them): the writer takes both at once.
        editing = asyncio.create_task(chat.edit_message(a, with_b.id, 2, "two, edited"))
        following = asyncio.create_task(
            store.serialized(next_write, bounded=False, flushes_itself=True))
    await asyncio.wait_for(following, 10)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(editing, 10)
    assert seen == [[EventType.MESSAGE_EDITED.value]]
    assert _types(published) == [EventType.MESSAGE_EDITED.value]
    assert [m.text for m in await chat.history(b, with_b.id)] == ["one", "two, edited"]


@pytest.mark.parametrize("stop", list(STOPS_WAITING))
async def test_a_member_removed_after_its_caller_left_is_no_member_once_it_lands(
        services, chats, writers, stop):
    a, b, _, _ = chats
    store, chat, published = _chat(services, writers)
    group = await chat.create_group(a, "late", [b])
    await chat.send_message(a, group.id, client_id="one", text="one")
    await chat.history(b, group.id)  # b's membership is cached
    async with writer_held(store):
        await STOPS_WAITING[stop](chat.remove_members(a, group.id, [b]))
        await chat.history(b, group.id)  # not landed yet: still a member
        published.events.clear()
    with pytest.raises(NotMemberError):
        await chat.history(b, group.id)
    assert _types(published) == [EventType.MEMBER_REMOVED.value]



@pytest.mark.parametrize("caller", ["left", "waits"])
async def test_a_change_cut_off_by_close_ends_for_its_caller_or_its_callback(writers, caller):
    """The alone batch being committed when the store closes is refused with what is
    queued: a caller still waiting hears it (as the erasure's unbounded op), and a change
    whose caller left is handed on as failed (None): the domain forgets what it may have
    changed."""
    # The close first lets the change in progress land, for at most one store timeout.
    store = MongoChatStore(timeout=1.0)
    writers.append(store)
    running = asyncio.Event()

    async def hold(next_pos) -> None:
        running.set()
        await asyncio.Event().wait()  # cut off by close
    handed: list = []
    if caller == "left":
        store.writer.timeout = 0.05
        await answered_store_timeout(store.serialized(hold, on_done=handed.append))
        assert running.is_set()
        await store.close()
        assert handed == [None]
        return
    waiting = asyncio.create_task(store.serialized(hold, bounded=False, on_done=handed.append))
    await asyncio.wait_for(running.wait(), 10)
    await store.close()
    with pytest.raises(UnavailableError):
        await asyncio.wait_for(waiting, 10)
    assert handed == []  # its caller heard it
