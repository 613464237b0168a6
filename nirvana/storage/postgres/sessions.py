"""PostgreSQL adapter of the SessionStore port: the signed-in devices (schema step 0006)."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from ...domain.accounts.devices import DeviceSession
from .password_guard import password_still_stored, user_locked


class PgSessionStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def start(self, session_id: str, user_id: int, device: str, ip: str, now: datetime,
                    token_hash: bytes, expires_at: datetime,
                    password_hash: str | None = None) -> bool:
        family = uuid.UUID(session_id)
        async with self._pool.acquire() as conn, conn.transaction():
            # Stored before a change or reset that comes later, which then ends it; never
            # after one that came first. A deleted account's start is refused too.
            if password_hash is not None and not await password_still_stored(
                    conn, user_id, password_hash, "KEY SHARE"):
                return False
            await conn.execute(
                "INSERT INTO sessions (id, user_id, device, ip, created_at, last_used_at) "
                "VALUES ($1, $2, $3, $4, $5, $5)",
                family, user_id, device, ip, now,
            )
            await conn.execute(
                "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at) "
                "VALUES ($1, $2, $3, $4)",
                token_hash, family, user_id, expires_at,
            )
        return True

    async def rotate(self, session_id: str, user_id: int, token_hash: bytes,
                     expires_at: datetime, now: datetime) -> bool:
        family = uuid.UUID(session_id)
        async with self._pool.acquire() as conn, conn.transaction():
            # The user's row before the session's (password_guard.py): a deletion waits here,
            # not in its cascade, which would wait on the session's row held below.
            if not await user_locked(conn, user_id):
                return False
            # The session's row is the lock a revocation takes too (PgRefreshTokenStore):
            # one that came first has committed, and the INSERT's snapshot, taken after
            # this lock, sees its revoked rows; one that comes later waits, then revokes
            # the token stored here.
            if await conn.fetchval("UPDATE sessions SET last_used_at = $2 WHERE id = $1 "
                                   "RETURNING true", family, now) is None:
                return False  # no row to lock (one older than schema step 0006): sign in again
            added = await conn.fetchval(
                """INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at)
                   SELECT $1, $2, $3, $4 WHERE NOT EXISTS (
                       SELECT 1 FROM refresh_tokens
                       WHERE family_id = $2 AND revoked_at IS NOT NULL)
                   RETURNING true""",
                token_hash, family, user_id, expires_at,
            )
        return bool(added)

    async def open_sessions(self, user_id: int, now: datetime) -> list[DeviceSession]:
        rows = await self._pool.fetch(
            """SELECT s.id, s.device, s.ip, s.created_at, s.last_used_at FROM sessions s
               WHERE s.user_id = $1 AND EXISTS (
                   SELECT 1 FROM refresh_tokens r
                   WHERE r.family_id = s.id AND r.used_at IS NULL AND r.revoked_at IS NULL
                     AND r.expires_at > $2)
               ORDER BY s.last_used_at DESC, s.created_at DESC""",
            user_id, now,
        )
        return [DeviceSession(str(r["id"]), r["device"], r["ip"], r["created_at"],
                              r["last_used_at"]) for r in rows]

    async def delete_closed(self, before: datetime) -> int:
        result = await self._pool.execute(
            """DELETE FROM sessions s WHERE s.created_at < $1 AND NOT EXISTS (
                   SELECT 1 FROM refresh_tokens r WHERE r.family_id = s.id)""",
            before,
        )
        return int(result.split()[-1])
