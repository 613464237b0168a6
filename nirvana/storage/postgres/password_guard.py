"""The check an action confirmed by the password makes in the transaction that writes it:
that the hash the password was verified against is still the stored one."""

from __future__ import annotations

from typing import Literal

import asyncpg


async def password_still_stored(conn: asyncpg.Connection, user_id: int, password_hash: str,
                                user_lock: Literal["KEY SHARE", "UPDATE"]) -> bool:
    """Lock the user's row (`FOR UPDATE` when the action deletes it or changes its email,
    a key), then the credentials' while they still hold `password_hash`, until the caller's
    transaction ends; False when the user is gone or the hash was replaced.

    The user's row first, as a deletion's cascade takes them: the reverse order deadlocks
    with it. A change's or reset's UPDATE of the credentials that came first has committed
    and the hash no longer matches; one that comes later waits for this transaction."""
    if await conn.fetchval(f"SELECT true FROM users WHERE id = $1 FOR {user_lock}",
                           user_id) is None:
        return False
    return await conn.fetchval(
        "SELECT true FROM credentials WHERE user_id = $1 AND password_hash = $2 FOR SHARE",
        user_id, password_hash) is not None
