"""A delete for everyone empties the copies of its message that earlier events (edits,
reactions) carry for resume, whatever their age: it finds them by the message's id through
the sparse (message._id) index of chat_events (documents.py), which only events carrying a
message enter. Each case puts a copy where a bound on the events' time would miss it, and
checks the filter the delete itself sent names the message's id alone. Over the real
MongoDB-wire store, with the services' clock moved by the test."""

from __future__ import annotations

from datetime import timedelta

import pytest

from nirvana.domain.chat.entities import Message
from nirvana.domain.chat.service import ChatService
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.collections import ChatCollections
from tests.support.chat_writers import chat_on
from tests.support.clock import FakeClock
from tests.support.erasure_steps import copies_of
from tests.support.event_updates import EventUpdates

COPIES_INDEX = "message._id_1"


@pytest.fixture
def services_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def recorded(services, writers) -> tuple[EventUpdates, ChatService]:
    """The chat service of a new writer whose changes record their updates of events, over
    a chat_events with its sparse (message._id) index (a delete finds its copies by a scan
    without it, so no check below would tell)."""
    info = await ChatCollections().events.index_information()
    assert info[COPIES_INDEX].get("sparse") is True
    store = MongoChatStore()
    writers.append(store)
    updates = EventUpdates()
    return updates, chat_on(store, services, updates)


async def _an_event_days_ago(chat: ChatService, chats, clock: FakeClock, days: float
                             ) -> None:
    """a's "old" to b and b's reaction to it, then the clock moved `days` on: the oldest
    events kept are that old."""
    a, b, with_b, _ = chats
    sent, _ = await chat.send_message(a, with_b.id, client_id="old", text="old")
    await chat.react(b, with_b.id, sent.seq, "👍")
    clock.current += timedelta(days=days)


async def _sent_with_a_reaction(chat: ChatService, chats, clock: FakeClock,
                                later: timedelta) -> Message:
    """a's "secret" to b, b's reaction to it `later` by the services' clock."""
    a, b, with_b, _ = chats
    sent, _ = await chat.send_message(a, with_b.id, client_id="s", text="secret")
    clock.current += later
    await chat.react(b, with_b.id, sent.seq, "👍")
    assert await copies_of("secret") == 3  # the message, the reaction's copy, the summary
    return sent


async def _deleted_everywhere(recorded, chats, sent: Message) -> None:
    updates, chat = recorded
    a, _, with_b, _ = chats
    await chat.delete_message(a, with_b.id, sent.seq, for_everyone=True)
    assert await copies_of("secret") == 0
    assert updates.filters == [{"message._id": sent.id}]  # what the index serves


async def test_a_copy_recorded_a_day_after_its_message_is_emptied(recorded, chats,
                                                                   services_clock):
    await _an_event_days_ago(recorded[1], chats, services_clock, 6)
    sent = await _sent_with_a_reaction(recorded[1], chats, services_clock, timedelta(days=1))
    await _deleted_everywhere(recorded, chats, sent)


async def test_an_older_message_deleted_days_later_has_its_copies_emptied(
        recorded, chats, services_clock):
    """The message is in the older half of the events kept (where a delete used to scan
    them all)."""
    await _an_event_days_ago(recorded[1], chats, services_clock, 1)
    sent = await _sent_with_a_reaction(recorded[1], chats, services_clock,
                                       timedelta(minutes=1))
    services_clock.current += timedelta(days=5)
    await _deleted_everywhere(recorded, chats, sent)


async def test_a_copy_timed_by_a_clock_behind_the_message_writers_is_emptied(
        recorded, chats, services_clock):
    """The reaction is taken by a clock two hours behind the message's (the writer that
    recorded it is another instance than the one that stored it): its copy is dated before
    the message."""
    await _an_event_days_ago(recorded[1], chats, services_clock, 6)
    sent = await _sent_with_a_reaction(recorded[1], chats, services_clock,
                                       -timedelta(hours=2))
    await _deleted_everywhere(recorded, chats, sent)


async def test_a_database_made_without_the_copies_index_gets_it_at_start(
        recorded, chats, services, settings, services_clock):
    """An older release's chat_events had no (message._id) index: a start builds it, sparse
    (receipts, most events, get no entry), and a delete then empties its copies."""
    from nirvana.wiring.stores import init_documents

    events = ChatCollections().events
    await events.drop_index(COPIES_INDEX)  # as main's tree left the database
    try:
        sent = await _sent_with_a_reaction(recorded[1], chats, services_clock,
                                           timedelta(minutes=1))
    finally:  # what a start runs; also back for the session's other tests if this failed
        await init_documents(services.mongo, settings.mongodb_db)
    assert (await events.index_information())[COPIES_INDEX].get("sparse") is True
    await _deleted_everywhere(recorded, chats, sent)
