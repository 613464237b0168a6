"""The chat writer's receipt hold (storage/mongo/receipt_hold.py): which queues are worth
holding for the rest of a message's receipts, and a hold that ends at once on anything but
a mark, on a whole burst, on `keep()` turning false, and on cancel, never taking from the
queue. A hold that would not end is given a minute, so that the test's own bound fails it."""

from __future__ import annotations

import asyncio

from nirvana.domain.chat.entities import ReceiptKind
from nirvana.storage.mongo.receipt_hold import Bursts, hold, worth_holding
from nirvana.storage.mongo.work_items import Mark, Op, WorkItem

ROOM = (1, 2, 3, 4)  # a's message is marked by 2, 3 and 4
LONG = 60.0


def mark(user: int, seq: int = 5, kind: ReceiptKind = ReceiptKind.DELIVERED,
         conversation: str = "c", audience: tuple[int, ...] = ROOM) -> Mark:
    return Mark(conversation, user, kind, seq, audience,
                asyncio.get_running_loop().create_future())


def op() -> Op:
    async def run(next_pos):
        return None
    return Op(run, asyncio.get_running_loop().create_future())


async def test_marks_of_a_burst_not_yet_whole_are_worth_holding():
    assert worth_holding([mark(2), mark(3)], 1000, Bursts())


async def test_a_whole_burst_is_not_held():
    assert not worth_holding([mark(2), mark(3), mark(4)], 1000, Bursts())


async def test_a_burst_is_whole_per_conversation_and_seq():
    pending: list[WorkItem] = [mark(2), mark(3), mark(4), mark(2, seq=6)]
    assert worth_holding(pending, 1000, Bursts())  # seq 6 waits for 3 and 4
    pending = [mark(2, conversation="d"), mark(3), mark(4)]
    assert worth_holding(pending, 1000, Bursts())  # c waits for 2, d for 3 and 4
    pending = [mark(2, conversation="d", audience=(1, 2)), mark(2), mark(3), mark(4)]
    assert not worth_holding(pending, 1000, Bursts())


async def test_a_read_counts_for_its_members_part_of_a_burst():
    pending: list[WorkItem] = [mark(2), mark(3, kind=ReceiptKind.READ), mark(4)]
    assert not worth_holding(pending, 1000, Bursts())


async def test_a_member_marking_twice_does_not_make_a_burst_whole():
    assert worth_holding([mark(2), mark(2), mark(3)], 1000, Bursts())


async def test_a_conversation_of_one_member_is_not_held():
    assert not worth_holding([mark(1, audience=(1,))], 1000, Bursts())


async def test_anything_but_a_mark_is_not_held():
    assert not worth_holding([mark(2), op()], 1000, Bursts())
    assert not worth_holding([op()], 1000, Bursts())


async def test_a_full_queue_is_not_held():
    assert not worth_holding([mark(2), mark(3)], 2, Bursts())


async def test_bursts_read_what_the_queue_gains():
    bursts, pending = Bursts(), [mark(2)]
    assert worth_holding(pending, 1000, bursts)
    pending += [mark(3)]
    assert worth_holding(pending, 1000, bursts)
    pending += [mark(4)]
    assert not worth_holding(pending, 1000, bursts)


async def _held(pending: list[WorkItem], wake: asyncio.Event,
                keep=lambda: True) -> asyncio.Task[None]:
    task = asyncio.ensure_future(hold(pending, wake, 1000, keep, LONG))
    for _ in range(3):
        await asyncio.sleep(0)
    assert not task.done()  # holding
    return task


async def test_a_hold_ends_when_anything_but_a_mark_is_queued():
    pending: list[WorkItem] = [mark(2)]
    wake = asyncio.Event()
    task = await _held(pending, wake)
    pending.append(op())
    wake.set()
    async with asyncio.timeout(5):
        await task
    assert len(pending) == 2


async def test_a_hold_ends_when_the_burst_is_whole():
    pending: list[WorkItem] = [mark(2)]
    wake = asyncio.Event()
    task = await _held(pending, wake)
    pending.append(mark(3))
    wake.set()
    await asyncio.sleep(0)
    assert not task.done()  # 4 is yet to mark
    pending.append(mark(4))
    wake.set()
    async with asyncio.timeout(5):
        await task


async def test_a_hold_ends_when_keep_turns_false():
    keeping = [True]
    wake = asyncio.Event()
    task = await _held([mark(2)], wake, lambda: keeping[0])
    keeping[0] = False
    wake.set()
    async with asyncio.timeout(5):
        await task


async def test_a_hold_ends_after_its_time():
    async with asyncio.timeout(5):
        await hold([mark(2)], asyncio.Event(), 1000, lambda: True, 0.01)


async def test_a_cancelled_hold_leaves_the_queue_as_it_was():
    pending: list[WorkItem] = [mark(2), mark(3)]
    task = await _held(pending, asyncio.Event())
    task.cancel()
    async with asyncio.timeout(5):
        await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    assert [m.user_id for m in pending if isinstance(m, Mark)] == [2, 3]
    assert not any(m.future.done() for m in pending if isinstance(m, Mark))


async def test_a_queue_not_worth_holding_is_not_held():
    async with asyncio.timeout(5):
        await hold([mark(2), mark(3), mark(4)], asyncio.Event(), 1000, lambda: True, LONG)
        await hold([mark(2)], asyncio.Event(), 1000, lambda: False, LONG)
