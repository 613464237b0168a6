"""A delete for everyone empties the copies of its message that earlier events (edits,
reactions) carry for resume. While the message is in the newer half of the events kept, it
looks only at the events recorded since the message was created, less an hour for clocks that
disagree (changes.py `COPIES_SKEW`, through the (created_at) index); past that, at all of
them (a scan costs less there). The first three cases take the index and each puts a copy
where a bound tighter than that would miss it; the last takes the scan. Over the real
MongoDB-wire store, with the services' clock moved by the test."""

from __future__ import annotations

from datetime import timedelta

import pytest

from nirvana.domain.chat.entities import Message
from nirvana.storage.mongo.changes import MongoChatChanges
from nirvana.storage.mongo.chat_store import MongoChatStore
from tests.support.clock import FakeClock
from tests.support.erasure_steps import copies_of


@pytest.fixture
def services_clock() -> FakeClock:
    return FakeClock()


async def _an_event_days_ago(services, chats, clock: FakeClock, days: float) -> None:
    """a's "old" to b and b's reaction to it, then the clock moved `days` on: the oldest
    events kept are that old."""
    a, b, with_b, _ = chats
    sent, _ = await services.chat.send_message(a, with_b.id, client_id="old", text="old")
    await services.chat.react(b, with_b.id, sent.seq, "👍")
    clock.current += timedelta(days=days)


async def _sent_with_a_reaction(services, chats, clock: FakeClock, later: timedelta
                                ) -> Message:
    """a's "secret" to b, b's reaction to it `later` by the services' clock."""
    a, b, with_b, _ = chats
    sent, _ = await services.chat.send_message(a, with_b.id, client_id="s", text="secret")
    clock.current += later
    await services.chat.react(b, with_b.id, sent.seq, "👍")
    assert await copies_of("secret") == 3  # the message, the reaction's copy, the summary
    return sent


async def _deleted_everywhere(services, chats, sent: Message, clock: FakeClock,
                              by_index: bool) -> None:
    a, _, with_b, _ = chats
    changes = MongoChatChanges(MongoChatStore())
    bound = await changes._copies_of(sent, clock.now(), None)
    assert ("created_at" in bound) is by_index  # the case takes the way it is meant to
    await services.chat.delete_message(a, with_b.id, sent.seq, for_everyone=True)
    assert await copies_of("secret") == 0


async def test_a_copy_recorded_a_day_after_its_message_is_emptied(services, chats,
                                                                   services_clock):
    """Against a window above the message's time (the copy is as late as the delete)."""
    await _an_event_days_ago(services, chats, services_clock, 6)
    sent = await _sent_with_a_reaction(services, chats, services_clock, timedelta(days=1))
    await _deleted_everywhere(services, chats, sent, services_clock, by_index=True)


async def test_an_older_message_deleted_now_has_its_old_copies_emptied(services, chats,
                                                                       services_clock):
    await _an_event_days_ago(services, chats, services_clock, 6)
    sent = await _sent_with_a_reaction(services, chats, services_clock,
                                       timedelta(minutes=1))
    services_clock.current += timedelta(days=2)
    await _deleted_everywhere(services, chats, sent, services_clock, by_index=True)


async def test_a_copy_timed_by_a_clock_behind_the_message_writers_is_emptied(
        services, chats, services_clock):
    """The reaction is taken by a clock two hours behind the message's (the writer that
    recorded it is another instance than the one that stored the message): its copy is
    dated no earlier than the message, where the delete looks for it."""
    await _an_event_days_ago(services, chats, services_clock, 6)
    sent = await _sent_with_a_reaction(services, chats, services_clock,
                                       -timedelta(hours=2))
    await _deleted_everywhere(services, chats, sent, services_clock, by_index=True)


async def test_a_message_in_the_older_half_of_the_events_kept_scans_them(
        services, chats, services_clock):
    await _an_event_days_ago(services, chats, services_clock, 1)
    sent = await _sent_with_a_reaction(services, chats, services_clock,
                                       timedelta(minutes=1))
    services_clock.current += timedelta(days=5)
    await _deleted_everywhere(services, chats, sent, services_clock, by_index=False)
