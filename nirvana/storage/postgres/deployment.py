"""The deployment's id in PostgreSQL (schema steps 0020, 0022): the reference the other stores'
copies are checked against, and the user ids handed out (nirvana/deployment_identity.py)."""

from __future__ import annotations

from datetime import date

import asyncpg


class PgDeploymentId:
    crossing = "that deployment's chats"

    def __init__(self, pool: asyncpg.Pool, where: str) -> None:
        self._pool = pool
        self.where = where

    async def adopt(self, candidate: str) -> str:
        """The id stored, storing `candidate` first if there is none. Written first, read
        only if it did not land: of starters racing, the first insert wins and the others
        read it."""
        made = await self._pool.fetchval(
            "INSERT INTO deployment (id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING id",
            candidate)
        return made if made is not None else await self._pool.fetchval(
            "SELECT id FROM deployment")

    async def copied_on(self) -> date | None:
        made = await self._pool.fetchval("SELECT copied_at FROM deployment")
        return made.date() if made is not None else None

    async def users_issued(self) -> int:
        """The highest user id handed out (0 before the first), deleted accounts' included."""
        return await users_issued(self._pool)


async def users_issued(db: asyncpg.Pool | asyncpg.Connection) -> int:
    """The `users` identity's highest id handed out. Its `last_value` is the next id instead,
    not yet handed out, while `is_called` is false: a new sequence, or one set by `setval(s,
    n, false)` or `RESTART WITH n` (a restore from a hand-made dump), whose next id is n."""
    sequence = await db.fetchval("SELECT pg_get_serial_sequence('users', 'id')")
    return await db.fetchval(f"SELECT last_value - (NOT is_called)::int FROM {sequence}")
