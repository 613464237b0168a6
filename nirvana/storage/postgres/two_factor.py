"""PostgreSQL adapter of the two-factor store (domain/accounts/two_factor.py)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from ...domain.accounts.two_factor import TwoFactorState
from .password_guard import password_still_stored, user_locked


class PgTwoFactorStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, user_id: int) -> TwoFactorState | None:
        row = await self._pool.fetchrow(
            "SELECT t.secret, t.enabled_at, "
            "(SELECT count(*) FROM two_factor_recovery_codes r "
            " WHERE r.user_id = t.user_id AND r.used_at IS NULL) AS left "
            "FROM two_factor t WHERE t.user_id = $1", user_id)
        if row is None:
            return None
        return TwoFactorState(user_id, row["secret"], row["enabled_at"], row["left"])

    async def begin(self, user_id: int, secret: str, now: datetime, password_hash: str) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            if not await password_still_stored(conn, user_id, password_hash, "KEY SHARE"):
                return False
            await conn.execute(
                "INSERT INTO two_factor (user_id, secret, created_at) VALUES ($1, $2, $3) "
                "ON CONFLICT (user_id) DO UPDATE SET secret = EXCLUDED.secret, "
                "created_at = EXCLUDED.created_at, last_step = NULL "
                "WHERE two_factor.enabled_at IS NULL", user_id, secret, now)
            return True

    async def enable(self, user_id: int, secret: str, step: int,
                     recovery_hashes: list[bytes], now: datetime) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            # The user's row before the two_factor row (password_guard.py): else a deletion
            # deadlocks with the codes' INSERT below.
            if not await user_locked(conn, user_id):
                return False
            done = await conn.fetchval(
                "UPDATE two_factor SET enabled_at = $3, last_step = $4 "
                "WHERE user_id = $1 AND secret = $2 AND enabled_at IS NULL RETURNING 1",
                user_id, secret, now, step)
            if done is None:
                return False
            await self._replace_codes(conn, user_id, recovery_hashes)
            return True

    async def disable(self, user_id: int, password_hash: str) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            if not await password_still_stored(conn, user_id, password_hash, "KEY SHARE"):
                return False
            await conn.execute("DELETE FROM two_factor_recovery_codes WHERE user_id = $1",
                               user_id)
            await conn.execute("DELETE FROM two_factor WHERE user_id = $1", user_id)
            return True

    async def claim_step(self, user_id: int, step: int) -> bool:
        # One statement: of two requests with the same code, exactly one gets the row.
        return await self._pool.fetchval(
            "UPDATE two_factor SET last_step = $2 WHERE user_id = $1 "
            "AND enabled_at IS NOT NULL AND (last_step IS NULL OR last_step < $2) "
            "RETURNING 1", user_id, step) is not None

    async def use_recovery_code(self, user_id: int, code_hash: bytes, now: datetime) -> bool:
        return await self._pool.fetchval(
            "UPDATE two_factor_recovery_codes SET used_at = $3 "
            "WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL RETURNING 1",
            user_id, code_hash, now) is not None

    async def replace_recovery_codes(self, user_id: int, hashes: list[bytes],
                                     password_hash: str) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            if not await password_still_stored(conn, user_id, password_hash, "KEY SHARE"):
                return False
            await self._replace_codes(conn, user_id, hashes)
            return True

    async def challenge_used(self, nonce: str) -> bool:
        return await self._pool.fetchval(
            "SELECT true FROM used_sign_in_challenges WHERE nonce = $1", nonce) is not None

    async def use_challenge(self, user_id: int, nonce: str, expires_at: datetime) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            # The user's row first (password_guard.py): else the foreign key's check waits
            # on a deletion, then fails, instead of finding the user gone.
            if not await user_locked(conn, user_id):
                return False
            # One statement: of two completions of one challenge, exactly one inserts.
            return await conn.fetchval(
                "INSERT INTO used_sign_in_challenges (nonce, user_id, expires_at) "
                "VALUES ($1, $2, $3) ON CONFLICT (nonce) DO NOTHING RETURNING true",
                nonce, user_id, expires_at) is not None

    async def delete_used_challenges(self, before: datetime) -> int:
        result = await self._pool.execute(
            "DELETE FROM used_sign_in_challenges WHERE expires_at < $1", before)
        return int(result.split()[-1])

    @staticmethod
    async def _replace_codes(conn: asyncpg.Connection, user_id: int,
                             hashes: list[bytes]) -> None:
        await conn.execute("DELETE FROM two_factor_recovery_codes WHERE user_id = $1", user_id)
        await conn.executemany(
            "INSERT INTO two_factor_recovery_codes (user_id, code_hash) VALUES ($1, $2)",
            [(user_id, h) for h in hashes])
