"""The background-task helpers: a repeated task stops when cancelled, even when the work it
was doing turned the cancel into an error of its own (as pymongo can)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from nirvana.blog_publisher import ScheduledPublisher
from nirvana.export_worker import ExportWorker
from nirvana.tasks import OnePerKey, cancel_and_wait, repeat, retry


async def test_a_repeated_task_goes_on_after_a_failure_nobody_cancelled():
    rounds = 0

    async def work() -> None:
        nonlocal rounds
        rounds += 1
        raise ConnectionError("the store is down")

    task = asyncio.create_task(repeat(work, 0.01, "test work"))
    while rounds < 3:
        await asyncio.sleep(0.01)
    await cancel_and_wait(task)
    assert rounds >= 3


class _Interrupted:
    """The work of a background loop whose store does not answer, and which turns the cancel
    that stops the loop into an error of its own, as a driver can."""

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def __call__(self, *args: object) -> None:
        self.started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass
        raise ConnectionError("the operation was interrupted")


async def _stops_at_once(loop, started: asyncio.Event) -> bool:
    task = asyncio.create_task(loop)
    await started.wait()
    stopping = asyncio.ensure_future(cancel_and_wait(task))
    # Not `asyncio.timeout`: its cancel would reach the task through the await and stop it.
    done, _ = await asyncio.wait({stopping}, timeout=2)
    if not done:
        task.cancel()
        await stopping
    return bool(done) and task.cancelled()


async def test_a_repeated_task_whose_work_swallows_the_cancel_still_stops():
    interrupted = _Interrupted()
    assert await _stops_at_once(repeat(interrupted, 3600, "test work"), interrupted.started)


async def test_a_retried_task_whose_work_swallows_the_cancel_stops_without_retrying():
    interrupted = _Interrupted()
    assert await _stops_at_once(retry(interrupted, (0.01,), "test work"), interrupted.started)


async def test_a_retried_task_tries_after_each_wait_and_says_whether_one_succeeded():
    tries = 0

    async def fails_twice() -> None:
        nonlocal tries
        tries += 1
        if tries <= 2:
            raise ConnectionError("the store is down")

    assert await retry(fails_twice, (0.01, 0.01, 0.01), "test work") and tries == 3
    tries = -10
    assert not await retry(fails_twice, (0.01, 0.01), "test work") and tries == -7


async def test_a_call_while_a_run_of_its_key_is_under_way_joins_it():
    started, release = asyncio.Event(), asyncio.Event()
    runs: list[str] = []

    async def work(key: str) -> str:
        runs.append(key)
        started.set()
        await release.wait()
        return key.upper()

    once: OnePerKey[str] = OnePerKey()
    first = asyncio.ensure_future(once.run("a", lambda: work("a")))
    await started.wait()
    joined = asyncio.ensure_future(once.run("a", lambda: work("a")))
    other = asyncio.ensure_future(once.run("b", lambda: work("b")))
    await asyncio.sleep(0)  # both calls are made
    release.set()
    assert await asyncio.gather(first, joined, other) == ["A", "A", "B"]
    assert runs == ["a", "b"]
    assert await once.run("a", lambda: work("a")) == "A" and runs == ["a", "b", "a"]


class _UnwindsSlowly:
    """A run that, once cancelled, unwinds only when `unwound` is set (its last write, say,
    still under way), then adds `label` to `log`; `stopped` is set when it is cancelled.
    Left alone, it returns "done" once `release` is set."""

    def __init__(self, log: list[str], label: str) -> None:
        self.log, self.label = log, label
        self.started, self.release = asyncio.Event(), asyncio.Event()
        self.stopped, self.unwound = asyncio.Event(), asyncio.Event()

    async def __call__(self) -> str:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.stopped.set()
            await self.unwound.wait()
            self.log.append(self.label)
            raise
        return "done"


def _logs(log: list[str], label: str):
    """A run that adds `label` to `log` and returns "done"."""
    async def run() -> str:
        log.append(label)
        return "done"
    return run


async def test_a_joined_run_goes_on_for_those_still_waiting_and_stops_with_the_last():
    log: list[str] = []
    work = _UnwindsSlowly(log, "unwound")
    once: OnePerKey[str] = OnePerKey()
    first = asyncio.ensure_future(once.run("a", work))
    await work.started.wait()
    second = asyncio.ensure_future(once.run("a", work))
    await asyncio.sleep(0)  # the second call is made
    await cancel_and_wait(first)
    work.release.set()
    assert await second == "done" and not work.stopped.is_set()

    work.started.clear(), work.release.clear()
    alone = asyncio.ensure_future(once.run("a", work))
    await work.started.wait()
    await cancel_and_wait(alone)
    await asyncio.wait_for(work.stopped.wait(), 2)
    # Called while the run stops: a run of its own, not the one being cancelled, which
    # starts once that one has ended (a few turns of the loop would have started it).
    again = asyncio.ensure_future(once.run("a", _logs(log, "started")))
    for _ in range(5):
        await asyncio.sleep(0)
    work.unwound.set()
    assert await again == "done"
    assert log == ["unwound", "started"]


async def test_a_run_never_starts_while_one_of_its_key_cancelled_twice_before_unwinds():
    """The first run is cancelled and unwinds slowly; the next, waiting for it, is cancelled
    too; a third must still wait for the first (it started while the first unwound)."""
    log: list[str] = []
    first_run = _UnwindsSlowly(log, "first unwound")
    later_run = _logs(log, "later started")
    once: OnePerKey[str] = OnePerKey()
    first = asyncio.ensure_future(once.run("a", first_run))
    await first_run.started.wait()
    await cancel_and_wait(first)
    second = asyncio.ensure_future(once.run("a", later_run))
    await asyncio.sleep(0)
    await cancel_and_wait(second)
    third = asyncio.ensure_future(once.run("a", later_run))
    for _ in range(5):
        await asyncio.sleep(0)
    first_run.unwound.set()
    assert await third == "done"
    assert log == ["first unwound", "later started"]


async def test_the_scheduled_publisher_stops_when_its_store_hid_the_cancel():
    interrupted = _Interrupted()
    blogs = SimpleNamespace(on_schedule=[], publish_due=interrupted)
    publisher = ScheduledPublisher(blogs, clock=None, poll=3600)
    assert await _stops_at_once(publisher.run(), interrupted.started)


async def test_the_export_worker_stops_when_its_store_hid_the_cancel():
    interrupted = _Interrupted()
    worker = ExportWorker(every=3600)
    worker.exports = SimpleNamespace(build_next=interrupted, purge=interrupted)
    assert await _stops_at_once(worker.run(), interrupted.started)
