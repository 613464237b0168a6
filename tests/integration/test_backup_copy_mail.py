"""A copy made by `restore --new-deployment` does not send the mail the original had queued
(docs/operations.md): its recipients are the original's real users."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from nirvana.backup import _mark_a_copy
from nirvana.storage.postgres.pool import create_pool, migrate


async def test_a_copy_leaves_the_originals_queued_mail_unsent(server_urls):
    admin_url = server_urls[0]
    name = f"copy_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    try:
        pool = await create_pool(url, timeout=30, min_size=1, max_size=2)
        try:
            await migrate(pool)
            await pool.execute(
                "INSERT INTO mail_outbox (message_id, recipient, subject, body, sent_at) VALUES "
                "('<a@x>', 'sent@example.com', 'Sent', 'b', now()), "
                "('<b@x>', 'queued@example.com', 'Queued', 'b', NULL)")
            await _mark_a_copy(url, "copy-id")
            due = await pool.fetch("SELECT recipient FROM mail_outbox "
                                   "WHERE sent_at IS NULL AND failed_at IS NULL")
            assert due == []
            kept = await pool.fetchval("SELECT last_error FROM mail_outbox "
                                       "WHERE recipient = 'queued@example.com'")
            assert kept == "not sent: restored into a copy"
            assert await pool.fetchval("SELECT count(*) FROM mail_outbox "
                                       "WHERE sent_at IS NOT NULL") == 1
        finally:
            await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()
