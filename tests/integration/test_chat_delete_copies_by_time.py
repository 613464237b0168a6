"""A delete for everyone empties the copies of its message that earlier events (edits,
reactions) carry for resume, looking only at the events recorded since the message was
created, less an hour for clocks that disagree (changes.py `COPIES_SKEW`): each case here
puts a copy where a bound tighter than that would miss it. Over the real MongoDB-wire
store, with the services' clock moved by the test."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.clock import FakeClock
from tests.support.erasure_steps import copies_of


@pytest.fixture
def services_clock() -> FakeClock:
    return FakeClock()


async def _sent_with_a_reaction(services, chats, clock: FakeClock, later: timedelta) -> int:
    """a's "secret" to b, b's reaction to it `later` by the services' clock: the seq."""
    a, b, with_b, _ = chats
    sent, _ = await services.chat.send_message(a, with_b.id, client_id="s", text="secret")
    clock.current += later
    await services.chat.react(b, with_b.id, sent.seq, "👍")
    assert await copies_of("secret") == 3  # the message, the reaction's copy, the summary
    return sent.seq


async def _deleted_everywhere(services, chats, seq: int) -> None:
    a, _, with_b, _ = chats
    await services.chat.delete_message(a, with_b.id, seq, for_everyone=True)
    assert await copies_of("secret") == 0


async def test_a_copy_recorded_a_day_after_its_message_is_emptied(services, chats,
                                                                   services_clock):
    seq = await _sent_with_a_reaction(services, chats, services_clock, timedelta(days=1))
    await _deleted_everywhere(services, chats, seq)


async def test_an_old_message_deleted_now_has_its_old_copies_emptied(services, chats,
                                                                     services_clock):
    seq = await _sent_with_a_reaction(services, chats, services_clock, timedelta(minutes=1))
    services_clock.current += timedelta(days=3)
    await _deleted_everywhere(services, chats, seq)


async def test_a_copy_timed_by_a_clock_behind_the_message_writers_is_emptied(
        services, chats, services_clock):
    """The reaction's time is half an hour before the message's: the clock of the writer
    that recorded it runs behind that of the writer that stored the message."""
    seq = await _sent_with_a_reaction(services, chats, services_clock,
                                      -timedelta(minutes=30))
    await _deleted_everywhere(services, chats, seq)
