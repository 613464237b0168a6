"""Missed chat messages waiting to be mailed, in PostgreSQL (`missed_messages`, schema step
0011): per recipient and conversation, the seqs tracked and when they are due, and the last
seq a mail covered. The tracker and mailer that use it: nirvana/missed_messages.py."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import AsyncIterator, Sequence

import asyncpg

from ...domain.notifications.missed import Tracked


@dataclass(frozen=True, slots=True)
class DueMissed:
    """A recipient's conversation whose tracked messages are due to be mailed."""

    user_id: int
    conversation_id: str
    pending: list[int]  # the tracked seqs
    mailed_through: int  # the last seq a mail covered


class PgMissedMessages:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def add(self, tracked: Sequence[Tracked], due_at: datetime) -> None:
        """Track these messages in one statement. A conversation already waiting keeps its
        due time; a recipient deleted meanwhile is skipped."""
        await self._pool.execute(
            """INSERT INTO missed_messages AS m (user_id, conversation_id, pending, due_at)
               SELECT u, c, array_agg(s ORDER BY s), $4
               FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS t(u, c, s)
               WHERE EXISTS (SELECT 1 FROM users WHERE id = u)
               GROUP BY u, c
               ON CONFLICT (user_id, conversation_id) DO UPDATE
               SET pending = m.pending || EXCLUDED.pending,
                   due_at = coalesce(m.due_at, EXCLUDED.due_at)""",
            [t.user_id for t in tracked], [t.conversation_id for t in tracked],
            [t.seq for t in tracked], due_at)

    @asynccontextmanager
    async def claim_due(self, now: datetime, limit: int
                        ) -> AsyncIterator[tuple[asyncpg.Connection, list[DueMissed]]]:
        """Up to `limit` conversations due at `now`, oldest first, locked until the block
        ends (FOR UPDATE SKIP LOCKED: several processes may mail at once) in a transaction
        on the connection yielded with them: the mail and `mailed` are written on it, so
        both commit or neither does."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT user_id, conversation_id, pending, mailed_through FROM "
                "missed_messages WHERE due_at <= $1 ORDER BY due_at LIMIT $2 "
                "FOR UPDATE SKIP LOCKED", now, limit)
            yield conn, [DueMissed(r["user_id"], r["conversation_id"], list(r["pending"]),
                                   r["mailed_through"]) for r in rows]

    async def mailed(self, conn: asyncpg.Connection, due: DueMissed, mailed_through: int) -> None:
        """Nothing is pending any more; a mail covered up to `mailed_through`."""
        await conn.execute(
            "UPDATE missed_messages SET pending = '{}', due_at = NULL, mailed_through = $3 "
            "WHERE user_id = $1 AND conversation_id = $2",
            due.user_id, due.conversation_id, mailed_through)
