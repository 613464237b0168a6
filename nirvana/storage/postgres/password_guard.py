"""The locks a transaction that writes a user's rows takes first, in the order an account
deletion takes them: the user's row, then the credentials'. A deletion locks the user's row
FOR UPDATE, then its cascade deletes the child rows (refresh_tokens, sessions, two-factor):
a transaction that locked a child row first, then waited on the user's row (a foreign key's
check takes KEY SHARE on it), would deadlock with it."""

from __future__ import annotations

from typing import Literal

import asyncpg


async def user_locked(conn: asyncpg.Connection, user_id: int,
                      mode: Literal["KEY SHARE", "UPDATE"] = "KEY SHARE") -> bool:
    """Lock the user's row until the caller's transaction ends, before any of its child
    rows; False when the user is gone. KEY SHARE (as a foreign key's check) lets any number
    of such writers through, and only a deletion or a change of the email (a key) waits."""
    return await conn.fetchval(f"SELECT true FROM users WHERE id = $1 FOR {mode}",
                               user_id) is not None


async def password_still_stored(conn: asyncpg.Connection, user_id: int, password_hash: str,
                                user_lock: Literal["KEY SHARE", "UPDATE"]) -> bool:
    """Lock the user's row (`FOR UPDATE` when the action deletes it or changes its email,
    a key), then the credentials' while they still hold `password_hash`, until the caller's
    transaction ends; False when the user is gone or the hash was replaced.

    A change's or reset's UPDATE of the credentials that came first has committed and the
    hash no longer matches; one that comes later waits for this transaction."""
    if not await user_locked(conn, user_id, user_lock):
        return False
    return await conn.fetchval(
        "SELECT true FROM credentials WHERE user_id = $1 AND password_hash = $2 FOR SHARE",
        user_id, password_hash) is not None
