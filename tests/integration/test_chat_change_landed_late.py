"""A change or receipt whose caller stopped waiting, and which lands later (a store slow for
longer than twice the store timeout answers `store_timeout`; an HTTP route's deadline, a
little past one store timeout, cancels the use case first): the chat service's cache must
show it once it lands, also when a page or conversation was read and cached between the
answer and the landing, and its live event must reach the members then, as a send that
lands late does. Over the real MongoDB-wire store, the chat service's own cache and a
recording publisher."""

from __future__ import annotations

import pytest

from nirvana.domain.chat.entities import EventType, ReceiptKind
from nirvana.domain.chat.errors import NotMemberError
from nirvana.storage.mongo.chat_store import MongoChatStore
from tests.support.chat_writers import chat_on
from tests.support.fakes_chat import RecordingPublisher
from tests.support.held_writer import STOPS_WAITING, answered_store_timeout, writer_held


class PositionsPublisher(RecordingPublisher):
    """Also records the position of each message and event, in the order published."""

    def __init__(self) -> None:
        super().__init__()
        self.positions: list[int] = []

    def message_posted(self, message, conversation) -> None:
        self.positions.append(message.pos)
        super().message_posted(message, conversation)

    def event_recorded(self, event, conversation) -> None:
        self.positions.append(event.pos)
        super().event_recorded(event, conversation)


def _chat(services, writers):
    store = MongoChatStore()
    writers.append(store)
    published = PositionsPublisher()
    return store, chat_on(store, services, publisher=published), published


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
    store, chat, published = _chat(services, writers)
    for text in ("one", "two"):
        await chat.send_message(a, with_b.id, client_id=text, text=text)
    async with writer_held(store):
        await STOPS_WAITING[stop](change(chat, a, b, with_b.id))
        # Read (and cached) after the answer, before the change lands.
        assert [m.text for m in await chat.history(b, with_b.id)] == ["one", "two"]
        assert (await chat.conversation_for(b, with_b.id)).last_message.text == "two"
        published.events.clear()
        # A send queued behind it: the writer may commit it first (a batch's sends go
        # before its changes), and either way the two are published in position order.
        sending = await chat.submit_message(a, with_b.id, client_id="three", text="three")
        await answered_store_timeout(sending)
    page = await chat.history(b, with_b.id)
    assert [(m.text, m.reactions) for m in page] == [*shown, ("three", ())]
    assert sorted(_types(published)) == sorted([event_type.value, "message"])
    assert published.positions == sorted(published.positions)


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


async def test_a_receipt_that_lands_after_store_timeout_is_announced(
        services, chats, writers):
    a, b, with_b, _ = chats
    store, chat, published = _chat(services, writers)
    await chat.send_message(a, with_b.id, client_id="one", text="one")
    await chat.conversation_for(b, with_b.id)  # cached, b's read mark 0
    async with writer_held(store):
        await answered_store_timeout(chat.mark(b, with_b.id, ReceiptKind.READ, 1))
        published.events.clear()
    assert published.events[0] == ("receipt", b, 1)
    assert (await chat.conversation_for(b, with_b.id)).member(b).read_seq == 1
