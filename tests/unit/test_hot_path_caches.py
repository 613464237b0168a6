"""The in-process caches on the authenticated request path: verified tokens, users, and the
cheap access-log record. Each must answer exactly what the uncached path would."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from datetime import timedelta

import pytest

from nirvana.domain.errors import AuthenticationError
from nirvana.domain.accounts.users import ProfileChanges
from nirvana.logs import AccessRecord, JsonFormatter, log_access
from nirvana.security import JwtAccessTokens
from nirvana.storage.cached_users import CachedUserRepository
from tests.support.clock import FakeClock
from tests.support.fakes_accounts import FakeUsers


class CountingUsers(FakeUsers):
    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.gets = 0
        self.gate: asyncio.Event | None = None
        self.manys: list[list[int]] = []

    async def get(self, user_id: int):
        self.gets += 1
        user = self.users.get(user_id)
        if self.gate is not None:
            await self.gate.wait()
        return user

    async def many(self, user_ids):
        self.manys.append(list(user_ids))
        return await super().many(user_ids)


async def test_cached_user_is_read_once_and_updates_are_written_through():
    inner = CountingUsers(FakeClock())
    users = CachedUserRepository(inner)
    ann = await users.create("ann@example.com", "ann", "Ann", "h")
    assert await users.get(ann.id) == ann and await users.get(ann.id) == ann
    assert inner.gets == 0  # create already cached it
    changed = await users.update_profile(ann.id, ProfileChanges(name="Ann Lee"))
    assert (await users.get(ann.id)).name == "Ann Lee" == changed.name
    assert inner.gets == 0


async def test_many_reads_only_the_users_not_cached_and_in_one_call():
    inner = CountingUsers(FakeClock())
    users = CachedUserRepository(inner)
    ann = await inner.create("ann@example.com", "ann", "Ann", "h")
    bob = await inner.create("bob@example.com", "bob", "Bob", "h")
    await users.get(ann.id)
    assert await users.many([ann.id, bob.id, 999]) == {ann.id: ann, bob.id: bob}
    assert inner.manys == [[bob.id, 999]]
    assert await users.many([bob.id]) == {bob.id: bob}  # kept
    assert inner.manys == [[bob.id, 999]] and inner.gets == 1


async def test_a_read_overlapping_a_write_does_not_cache_the_old_row():
    inner = CountingUsers(FakeClock())
    users = CachedUserRepository(inner)
    ann = await inner.create("ann@example.com", "ann", "Ann", "h")
    inner.gate = asyncio.Event()
    slow_read = asyncio.create_task(users.get(ann.id))  # has read the old row, then waits
    await asyncio.sleep(0)
    await users.update_profile(ann.id, ProfileChanges(name="New"))
    inner.gate.set()
    assert (await slow_read).name == "Ann"  # it answers what it read...
    inner.gate = None
    assert (await users.get(ann.id)).name == "New"  # ...but did not replace the newer copy


class SlowDeletes(CountingUsers):
    """A delete that waits for `gate` after it began, as a transaction waits on a lock."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.deleting = asyncio.Event()
        self.delete_gate = asyncio.Event()

    async def delete(self, user_id, at, password_hash) -> bool:
        self.deleting.set()
        await self.delete_gate.wait()
        return await super().delete(user_id, at, password_hash)


async def test_a_read_made_during_a_delete_is_not_kept():
    """A read wholly inside the delete's round trip gets the row still there; once the
    delete is done the account reads as gone (a kept copy let a deleted account chat)."""
    inner = SlowDeletes(FakeClock())
    users = CachedUserRepository(inner)
    ann = await inner.create("ann@example.com", "ann", "Ann", "h")
    deleting = asyncio.create_task(users.delete(ann.id, FakeClock().now(), "h"))
    try:
        await inner.deleting.wait()
        assert await users.get(ann.id) == ann  # not yet committed: the old row
        inner.delete_gate.set()
        await deleting
    finally:
        inner.delete_gate.set()
        await deleting
    assert await users.get(ann.id) is None


class SlowUpdates(CountingUsers):
    """An update that has committed, then waits for `gate` before it answers."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.updated = asyncio.Event()
        self.update_gate = asyncio.Event()

    async def update_profile(self, user_id, changes):
        user = await super().update_profile(user_id, changes)
        self.updated.set()
        await self.update_gate.wait()
        return user


async def test_an_update_that_ends_after_a_later_delete_is_not_kept():
    """The profile change commits, then the account's deletion commits and ends first: the
    row the change answers is not cached (it was, with no end: the deleted account read as
    existing, so it could still chat)."""
    inner = SlowUpdates(FakeClock())
    users = CachedUserRepository(inner)
    ann = await inner.create("ann@example.com", "ann", "Ann", "h")
    updating = asyncio.create_task(users.update_profile(ann.id, ProfileChanges(name="New")))
    try:
        await inner.updated.wait()
        await users.delete(ann.id, FakeClock().now(), "h")
    finally:
        inner.update_gate.set()
    assert (await updating).name == "New"
    assert await users.get(ann.id) is None


async def test_the_cache_is_bounded():
    inner = CountingUsers(FakeClock())
    users = CachedUserRepository(inner, size=2)
    ids = [(await inner.create(f"u{i}@example.com", f"u{i}", "U", "h")).id for i in range(3)]
    for uid in ids:
        await users.get(uid)
    await users.get(ids[0])  # the oldest was evicted: read again
    assert inner.gets == 4


async def test_the_me_body_follows_every_version_of_the_user_and_is_bounded():
    from nirvana.http.routes.users import BodyOfUser
    from nirvana.http.schemas.users import UserOut

    users = CachedUserRepository(FakeUsers(FakeClock()))
    ann = await users.create("ann@example.com", "ann", "Ann", "h")
    body_of = BodyOfUser(size=2)
    first = body_of(await users.get(ann.id))
    assert json.loads(first) == json.loads(UserOut.of(ann).model_dump_json())
    assert body_of(await users.get(ann.id)) is first  # the same version: made once
    await users.update_profile(ann.id, ProfileChanges(name="Ann B"))
    assert json.loads(body_of(await users.get(ann.id)))["name"] == "Ann B"
    # An equal user that is another object (e.g. read again from the database) is made
    # again rather than trusted: identity, not equality, decides.
    again = await users.get(ann.id)
    copy = type(again)(**{f: getattr(again, f) for f in again.__slots__})
    assert body_of(copy) == body_of(again) and body_of(copy) is not body_of(again)
    others = [await users.create(f"u{i}@example.com", f"u{i}", "U", "h") for i in range(3)]
    for user in others:
        body_of(user)
    assert len(body_of._bodies) == 2


def test_a_cached_token_is_still_judged_against_the_clock():
    clock = FakeClock()
    tokens = JwtAccessTokens("s" * 48, clock, ttl=timedelta(minutes=15))
    token, _ = tokens.issue(7, "family")
    assert tokens.verify(token).user_id == 7
    assert tokens.verify(token).user_id == 7  # from the cache
    clock.advance(15 * 60 + 1)
    with pytest.raises(AuthenticationError) as info:
        tokens.verify(token)
    assert info.value.code == "token_expired"


def test_a_bad_token_is_never_cached_and_the_cache_is_bounded():
    clock = FakeClock()
    tokens = JwtAccessTokens("s" * 48, clock, cache_size=2)
    good = [tokens.issue(i, f"f{i}")[0] for i in range(3)]
    for token in good:
        tokens.verify(token)
    assert len(tokens._verified) == 2
    with pytest.raises(AuthenticationError):
        tokens.verify(good[0][:-2] + "xx")
    assert len(tokens._verified) == 2


def test_access_record_formats_like_an_ordinary_record_with_extra():
    fields = {"request_id": "r" * 32, "method": "GET", "route": "/x", "path": "/x",
              "status": 200, "duration_ms": 0.5, "user_id": None}
    logger = logging.getLogger("nirvana.test.access")
    formatter = JsonFormatter()
    fast = json.loads(formatter.format(AccessRecord(logger.name, fields)))
    slow = json.loads(formatter.format(
        logger.makeRecord(logger.name, logging.INFO, "f", 1, "request", (), None, extra=fields)))
    assert fast.pop("ts")[:4] == slow.pop("ts")[:4]
    assert fast == slow
    # Any %-style formatter can render it (the standard attributes are all there).
    text = logging.Formatter("%(levelname)s %(name)s:%(filename)s:%(lineno)d %(message)s "
                             "%(asctime)s %(threadName)s").format(AccessRecord("a", fields))
    assert text.startswith("INFO a:middleware.py:0 request")


def test_log_access_goes_through_handlers_and_honours_the_level():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("nirvana.test.access2")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.setLevel(logging.WARNING)
        log_access(logger, {"status": 200})
        assert stream.getvalue() == ""
        logger.setLevel(logging.INFO)
        log_access(logger, {"status": 200})
        assert json.loads(stream.getvalue())["status"] == 200
    finally:
        logger.removeHandler(handler)


@pytest.mark.parametrize("created", [1763788282.1234, 1763788282.5, 1763788283.0004, 86400.25])
def test_timestamp_matches_isoformat_to_the_millisecond(created):
    from datetime import datetime, timezone

    expected = datetime.fromtimestamp(created, timezone.utc).isoformat(timespec="milliseconds")
    assert JsonFormatter().timestamp(created) == expected


async def test_hashing_threads_run_at_the_lowest_priority():
    import os
    import sys

    from nirvana.security import Argon2Hasher

    if not sys.platform.startswith("linux"):
        pytest.skip("per-thread priority is a Linux feature")
    hasher = Argon2Hasher(time_cost=1, memory_cost=8, concurrency=1)

    def own_niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, 0)  # 0: the calling thread on Linux

    assert await hasher._run(own_niceness) == 19
    assert await hasher.verify(await hasher.hash("password one"), "password one")
