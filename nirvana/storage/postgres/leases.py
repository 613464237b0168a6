"""Named leases in PostgreSQL (schema step 0014): held by one process, renewed while it runs.

Expiry is judged by the database's clock (`now()`), never a process's, so processes on
machines whose clocks disagree still agree on who holds a lease.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

_COLUMNS = ("name, holder, epoch, expires_at, detail, now() AS read_at, "
            "EXTRACT(EPOCH FROM expires_at - now())::float8 AS remaining")


@dataclass(frozen=True, slots=True)
class Lease:
    name: str
    holder: str
    epoch: int  # grows by one each time the lease changes hands
    expires_at: datetime
    remaining: float  # seconds until it expires, by the database's clock (< 0: expired)
    detail: dict[str, Any]
    # The database's now() of the statement that returned it: for acquire, when it was taken.
    read_at: datetime


def _lease(row: asyncpg.Record) -> Lease:
    return Lease(name=row["name"], holder=row["holder"], epoch=row["epoch"],
                 expires_at=row["expires_at"], remaining=row["remaining"],
                 detail=json.loads(row["detail"]), read_at=row["read_at"])


class PgLeases:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def acquire(self, name: str, holder: str, ttl: float, detail: dict[str, Any],
                      *, take_from: str | None = None) -> tuple[bool, Lease]:
        """Take the lease for `ttl` seconds if it is free, expired, already `holder`'s, or
        held by `take_from` (a holder the caller knows is dead). Returns whether `holder`
        has it now, and the lease as it stands (the other holder's when not)."""
        row = await self._pool.fetchrow(
            f"""INSERT INTO leases AS l (name, holder, epoch, expires_at, detail)
                VALUES ($1, $2, 1, now() + make_interval(secs => $3), $4::jsonb)
                ON CONFLICT (name) DO UPDATE SET
                    holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at,
                    detail = EXCLUDED.detail,
                    epoch = CASE WHEN l.holder = EXCLUDED.holder THEN l.epoch ELSE l.epoch + 1 END
                WHERE l.expires_at <= now() OR l.holder = EXCLUDED.holder OR l.holder = $5
                RETURNING {_COLUMNS}""",
            name, holder, ttl, json.dumps(detail), take_from)
        if row is not None:
            return True, _lease(row)
        current = await self.current(name)
        if current is None:  # released and removed in between: cannot happen, rows stay
            raise RuntimeError(f"lease {name!r} vanished")
        return False, current

    async def renew(self, name: str, holder: str, epoch: int, ttl: float) -> Lease | None:
        """Extend the lease if `holder` still holds it at `epoch`; None when it was taken."""
        row = await self._pool.fetchrow(
            f"""UPDATE leases SET expires_at = now() + make_interval(secs => $4)
                WHERE name = $1 AND holder = $2 AND epoch = $3 RETURNING {_COLUMNS}""",
            name, holder, epoch, ttl)
        return None if row is None else _lease(row)

    async def release(self, name: str, holder: str, epoch: int) -> None:
        """End the lease now, so the next process need not wait for it to expire. The row
        stays: the next holder's epoch follows this one."""
        await self._pool.execute(
            "UPDATE leases SET expires_at = now() WHERE name = $1 AND holder = $2 AND epoch = $3",
            name, holder, epoch)

    async def current(self, name: str) -> Lease | None:
        row = await self._pool.fetchrow(f"SELECT {_COLUMNS} FROM leases WHERE name = $1", name)
        return None if row is None else _lease(row)
