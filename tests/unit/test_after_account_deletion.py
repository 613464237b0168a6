"""What follows an account's deletion (nirvana/wiring/account_deletion.py), on fakes: a
failed erasure is tried again soon, once at a time per account, and stops at once at a stop."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from nirvana.domain.accounts.deletion import AccountDeleted, Erasure
from nirvana.tasks import cancel_and_wait
from nirvana.wiring.account_deletion import AfterAccountDeletion
from tests.support.clock import FakeClock
from tests.support.fakes_accounts import FakeDeletedAccounts, FlakyEraser
from tests.support.waiting import wait_until


def after_deletion(eraser: FlakyEraser, deleted: FakeDeletedAccounts, waits: tuple[float, ...]
                   ) -> tuple[AfterAccountDeletion, set[asyncio.Task]]:
    clock = FakeClock()
    background: set[asyncio.Task] = set()
    after = AfterAccountDeletion(SimpleNamespace(authors_removed=lambda: None),
                                 Erasure(eraser, deleted, clock), background,
                                 retry_waits=waits)
    return after, background


async def stopped(background: set[asyncio.Task]) -> None:
    for task in list(background):
        await cancel_and_wait(task)


def deleted(user_id: int) -> AccountDeleted:
    return AccountDeleted(user_id, FakeClock().now())


async def test_a_failed_erasure_is_tried_again_and_recorded_once_it_succeeds():
    eraser, pending = FlakyEraser(failures=2), FakeDeletedAccounts([7])
    after, background = after_deletion(eraser, pending, (0.01, 0.01, 0.01))
    try:
        after.publish(deleted(7))
        await wait_until(lambda: not background, "the erasure's tries to end")
        assert eraser.tries == 3 and eraser.erased == [7] and pending.pending == []
    finally:
        await stopped(background)


async def test_an_erasure_failing_every_try_is_left_pending_for_housekeeping():
    eraser, pending = FlakyEraser(), FakeDeletedAccounts([7])
    after, background = after_deletion(eraser, pending, (0.01, 0.01))
    try:
        after.publish(deleted(7))
        await wait_until(lambda: not background, "the erasure's tries to end")
        assert eraser.tries == 3 and pending.pending == [7]
    finally:
        await stopped(background)


async def test_an_account_whose_erasure_waits_to_be_tried_again_gets_no_second_run():
    eraser, pending = FlakyEraser(), FakeDeletedAccounts([7, 8])
    after, background = after_deletion(eraser, pending, (3600.0,))
    try:
        after.publish(deleted(7))
        await wait_until(lambda: eraser.tries == 1, "the first try")
        after.publish(deleted(7))  # the same account again (a repeated event)
        assert len(background) == 1  # a run would have been started by now
        after.publish(deleted(8))  # another account: its own tries
        assert len(background) == 2
        await wait_until(lambda: eraser.tries == 2, "the other account's try")
    finally:
        await stopped(background)


async def test_a_stop_ends_an_erasure_waiting_to_be_tried_again_at_once():
    eraser, pending = FlakyEraser(), FakeDeletedAccounts([7])
    after, background = after_deletion(eraser, pending, (3600.0,))
    try:
        after.publish(deleted(7))
        await wait_until(lambda: eraser.tries == 1, "the first try")
        [task] = background
        stopping = asyncio.ensure_future(cancel_and_wait(task))
        done, _ = await asyncio.wait({stopping}, timeout=2)
        assert done and task.cancelled()
    finally:
        await stopped(background)
