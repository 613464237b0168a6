"""The mail outbox in PostgreSQL (schema step 0005): the `Mailer` the domain writes to, and
the queue the sender (storage/mail_sender.py) claims due mails from."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import make_msgid

import asyncpg


@dataclass(frozen=True, slots=True)
class QueuedMail:
    id: int
    message_id: str
    recipient: str
    subject: str
    body: str
    attempts: int
    html: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class PgMailOutbox:
    def __init__(self, pool: asyncpg.Pool, domain: str = "nirvana.local") -> None:
        self._pool = pool
        self._domain = domain
        # Set on every new mail, so the sender in this process need not wait for its poll.
        self.queued = asyncio.Event()

    async def send(self, to: str, subject: str, body: str, *, html: str | None = None,
                   headers: dict[str, str] | None = None) -> None:
        """The domain's `Mailer.send`: the mail is stored, and sent by the sender task."""
        await self.queue(self._pool, to, subject, body, html=html, headers=headers)
        self.queued.set()

    async def queue(self, conn: asyncpg.Pool | asyncpg.Connection, to: str, subject: str,
                    body: str, *, html: str | None = None,
                    headers: dict[str, str] | None = None) -> None:
        """Write a mail on `conn`, which may be in the transaction that caused it (then the
        caller sets `queued` after its commit)."""
        await conn.execute(
            "INSERT INTO mail_outbox (message_id, recipient, subject, body, html, headers) "
            "VALUES ($1, $2, $3, $4, $5, $6::jsonb)", make_msgid(domain=self._domain), to,
            subject, body, html, json.dumps(headers or {}))

    async def claim(self, now: datetime, lease: timedelta, limit: int) -> list[QueuedMail]:
        """Due mails, each pushed `lease` into the future so another sender (or this one
        after a crash) takes it again only if this attempt never records its outcome."""
        rows = await self._pool.fetch(
            """UPDATE mail_outbox SET next_attempt_at = $1 + $2
               WHERE id IN (SELECT id FROM mail_outbox
                            WHERE sent_at IS NULL AND failed_at IS NULL
                              AND next_attempt_at <= $1
                            ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
               RETURNING id, message_id, recipient, subject, body, attempts, html,
                         headers::text AS headers""",
            now, lease, limit)
        return [QueuedMail(**{**dict(r), "headers": json.loads(r["headers"])})
                for r in sorted(rows, key=lambda r: r["id"])]

    async def sent(self, mail_id: int, now: datetime) -> None:
        await self._pool.execute(
            "UPDATE mail_outbox SET sent_at = $2, attempts = attempts + 1, last_error = NULL "
            "WHERE id = $1", mail_id, now)

    async def retry_at(self, mail_id: int, at: datetime, error: str) -> None:
        await self._pool.execute(
            "UPDATE mail_outbox SET next_attempt_at = $2, attempts = attempts + 1, "
            "last_error = $3 WHERE id = $1", mail_id, at, error[:500])

    async def failed(self, mail_id: int, now: datetime, error: str) -> None:
        await self._pool.execute(
            "UPDATE mail_outbox SET failed_at = $2, attempts = attempts + 1, last_error = $3 "
            "WHERE id = $1", mail_id, now, error[:500])

    async def next_due(self) -> datetime | None:
        return await self._pool.fetchval(
            "SELECT min(next_attempt_at) FROM mail_outbox "
            "WHERE sent_at IS NULL AND failed_at IS NULL")
