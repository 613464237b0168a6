"""A message an older release moved to the head below a later seq of its conversation
(marked `moved`), re-summarised by this release's start, whose own write of it failed,
through each way its summary is written then: its position (`last_pos`) is written by a slice of
the spread flush, by the flush a change needs, and after a failed slice by the next one; a
resume from between the later seq and it replays it meanwhile too. The ticks are driven by
hand on a clock the test moves (`Summaries.flush_due`)."""

from __future__ import annotations

import asyncio


from tests.support.chat_collections import SteeredCollections, SummaryClock
from tests.support.late_sends import LateSend, moved_below_a_later_seq, replayed

INTERVAL = 3600.0  # the background flush's own tick never comes during a test
SLICES = 4
TICK = INTERVAL / SLICES



def states(services):
    return services.mongo[services.settings.mongodb_db]["chat_conversation_state"]


async def a_slice_of_its_own(client, services, flaky, steer
                             ) -> tuple[LateSend, list[tuple[int, str]]]:
    """The late send's conversation `c` buffered with both its seqs (the later one never
    written: only `moved` holds the late one's position), and `other` dirtied a tick after
    it; the clock at the end of c's interval, where the next tick's slice is c's alone.
    (the scenario, what a resume from its `since` must get)."""
    clock = SummaryClock()
    start = clock.now
    s = await moved_below_a_later_seq(
        client, services, flaky, flushed_before_move=False, failing_repair=steer,
        summary_clock=clock, summary_interval=INTERVAL, summary_slices=SLICES, db=steer)
    await s.store.summaries.flush([s.other.id])  # dirty since `start` too: out of the way
    clock.now = start + TICK
    after, _ = await s.chat.send_message(s.a, s.other.id, client_id="after", text="after")
    clock.now = start + INTERVAL
    return s, s.expected + [(after.pos, "after")]


async def other_written_up_to(services, s: LateSend) -> str:
    return (await states(services).find_one({"_id": s.other.id}))["last_message"]["text"]


async def test_a_slice_writes_the_moved_position_and_a_resume_meanwhile_replays_it(
        client, services, flaky):
    steer = SteeredCollections()
    s, expected = await a_slice_of_its_own(client, services, flaky, steer)
    steer.hold_state_writes = True
    flushing = asyncio.create_task(s.store.summaries.flush_due())
    try:
        async with asyncio.timeout(10):
            await steer.write_started.wait()
        steer.hold_state_writes = False
        # Mid-commit: the moved position is only in the slice being written.
        assert await replayed(s.store, s.a, s.since) == expected
    finally:
        steer.write_release.set()
        await flushing
    assert (await states(services).find_one({"_id": s.c.id}))["last_pos"] == s.late.pos
    assert await other_written_up_to(services, s) != "after"  # a slice, not the buffer
    assert all(s.c.id not in b.last for b in s.store.summaries.unwritten())
    assert await replayed(s.store, s.a, s.since) == expected  # from the stored last_pos


async def test_a_change_flush_writes_the_moved_position(client, services, flaky):
    steer = SteeredCollections()
    s = await moved_below_a_later_seq(client, services, flaky, flushed_before_move=False,
                                      failing_repair=steer, db=steer)
    # An edit in c writes c's summary first, alone.
    assert (await s.chat.edit_message(s.a, s.c.id, 2, "edited")).text == "edited"
    assert (await states(services).find_one({"_id": s.c.id}))["last_pos"] == s.late.pos
    assert all(s.c.id not in b.last for b in s.store.summaries.unwritten())
    assert any(s.other.id in b.last for b in s.store.summaries.unwritten())
    assert await replayed(s.store, s.a, s.since) == s.expected


async def test_a_failed_slice_keeps_the_moved_position_until_the_next_one_writes_it(
        client, services, flaky):
    steer = SteeredCollections()
    s, expected = await a_slice_of_its_own(client, services, flaky, steer)
    steer.fail_state_writes = True
    await s.store.summaries.flush_due()  # fails quietly: the slice goes back
    steer.fail_state_writes = False
    assert [b.moved for b in s.store.summaries.unwritten()] == [{s.c.id: s.late.pos}]
    assert "last_pos" not in await states(services).find_one({"_id": s.c.id})
    assert await replayed(s.store, s.a, s.since) == expected
    await s.store.summaries.flush_due()  # still due: the next tick writes it
    assert (await states(services).find_one({"_id": s.c.id}))["last_pos"] == s.late.pos
    assert await other_written_up_to(services, s) != "after"
    assert await replayed(s.store, s.a, s.since) == expected
