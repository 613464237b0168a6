"""The user id mark's check (nirvana/deployment_identity.py check_user_ids) with starters
interleaved in a fixed order: stand-in stores whose calls wait on events, so the order is the
test's, not the scheduler's (the real stores' race is in tests/integration)."""

from __future__ import annotations

import asyncio

import pytest

from nirvana.deployment_identity import DeploymentMismatch, check_user_ids


class Sequence:
    """PostgreSQL's users identity, moved by sign-ups on a serving instance."""

    def __init__(self, value: int) -> None:
        self.value = value


class Mark:
    """The chat store's mark: raised with $max, the value before returned."""

    def __init__(self, value: int = 0) -> None:
        self.value = value


class Postgres:
    where = "PostgreSQL"

    def __init__(self, sequence: Sequence, read: asyncio.Event | None = None) -> None:
        self._sequence = sequence
        self._read = read

    async def users_issued(self) -> int:
        value = self._sequence.value
        if self._read is not None:
            self._read.set()
            self._read = None  # only the first read is the one the other starter waits for
        return value


class Chat:
    where = "the chat store"

    def __init__(self, mark: Mark, after: asyncio.Event | None = None) -> None:
        self._mark = mark
        self._after = after

    async def raise_users_mark(self, issued: int) -> int:
        if self._after is not None:
            await self._after.wait()  # this raise reaches the store after the other's
        before = self._mark.value
        self._mark.value = max(before, issued)
        return before


async def test_starters_overtaken_by_sign_ups_start_both():
    """A reads the identity (100); sign-ups move it to 105; B reads 105 and raises the mark
    to 105; A's raise lands after B's and sees 105 > 100. The identity only moved forward:
    both start, and the mark is 105."""
    sequence, mark = Sequence(100), Mark()
    a_read, b_done = asyncio.Event(), asyncio.Event()

    async def b() -> None:
        await a_read.wait()
        sequence.value = 105
        await check_user_ids(Postgres(sequence), Chat(mark))
        b_done.set()

    await asyncio.wait_for(asyncio.gather(
        check_user_ids(Postgres(sequence, read=a_read), Chat(mark, after=b_done)), b()), 5)
    assert mark.value == 105


async def test_a_postgresql_still_below_the_mark_on_the_second_read_is_refused():
    mark = Mark(1350)
    with pytest.raises(DeploymentMismatch) as refused:
        await check_user_ids(Postgres(Sequence(1200)), Chat(mark))
    message = str(refused.value)
    assert message.startswith("PostgreSQL is older than the chat store: its users identity "
                              "is at 1200 but it had handed out user ids up to 1350")
    assert "greatest(<the highest the chat store names>, 1350)" in message
    assert "drop the chat store (MONGODB_DB)" in message and "\n" not in message
    assert mark.value == 1350
