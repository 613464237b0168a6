"""Exports on fakes and a clock the test moves: one request at a time, the daily limit,
who may download and until when, and a build that fails being tried again."""

from __future__ import annotations

import pytest

from nirvana.domain.errors import NotFoundError, RateLimitedError
from nirvana.domain.exports.jobs import ExportState
from nirvana.domain.exports.service import Exports
from tests.support.clock import FakeClock
from tests.support.fakes_exports import (
    FakeArchives,
    FakeExportJobs,
    FakeRecords,
    NoChats,
    Told,
)


def make(clock, records=None):
    told, archives, jobs = Told(), FakeArchives(), FakeExportJobs()
    woken = []
    exports = Exports(jobs=jobs, records=records or FakeRecords(), chat=NoChats(),
                      archives=archives, notifier=told, mailer=told, clock=clock,
                      on_request=lambda: woken.append(1))
    return exports, told, archives, woken


async def test_a_request_wakes_the_worker_and_a_second_one_gets_the_first():
    exports, _, _, woken = make(FakeClock())
    first = await exports.request(7)
    assert (await exports.request(7)).id == first.id
    assert woken == [1]


async def test_three_a_day_then_429_until_the_oldest_is_a_day_old():
    clock = FakeClock()
    exports, _, _, _ = make(clock)
    for _ in range(3):
        await exports.request(7)
        await exports.build_next()
        clock.advance(60)
    with pytest.raises(RateLimitedError) as limited:
        await exports.request(7)
    assert limited.value.retry_after == 24 * 3600 - 180
    clock.advance(24 * 3600 - 180)
    await exports.request(7)


async def test_the_owner_is_told_and_alone_can_download_until_it_expires():
    clock = FakeClock()
    exports, told, archives, _ = make(clock)
    job = await exports.request(7)
    with pytest.raises(NotFoundError) as early:
        await exports.downloadable(7, job.id)
    assert early.value.code == "export_not_ready"
    await exports.build_next()
    assert told.notices[0][0] == 7 and told.mails[0][0] == "u7@example.com"
    assert (await exports.downloadable(7, job.id)).state is ExportState.READY
    with pytest.raises(NotFoundError) as other:
        await exports.downloadable(8, job.id)
    assert other.value.code == "export_not_found"
    clock.advance(2 * 24 * 3600)
    with pytest.raises(NotFoundError) as late:
        await exports.downloadable(7, job.id)
    assert late.value.code == "export_expired"
    assert await exports.purge() == 1 and archives.stored == {}


async def test_a_failed_build_is_tried_again_then_given_up():
    clock = FakeClock()
    exports, told, _, _ = make(clock, FakeRecords(fail_times=3))
    await exports.request(7)
    for _ in range(3):
        with pytest.raises(ConnectionError):
            await exports.build_next()
    assert (await exports.list(7))[0].state is ExportState.FAILED
    assert await exports.build_next() is None and told.notices == []
