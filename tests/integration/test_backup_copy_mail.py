"""A copy made by `restore --new-deployment` does not send the mail the original had queued,
nor the mail of its queued work (missed-message digests, exports asked for)
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
            user = await pool.fetchval("INSERT INTO users (email, username, name) VALUES "
                                       "('u@example.com', 'u', 'U') RETURNING id")
            await pool.execute(
                "INSERT INTO missed_messages (user_id, conversation_id, pending, due_at, "
                "mailed_through) VALUES ($1, 'due', '{4,5}', now() - interval '1 hour', 3), "
                "($1, 'later', '{7}', now() + interval '1 hour', 6), "
                "($1, 'mailed', '{}', NULL, 9)", user)
            await pool.execute(
                "INSERT INTO exports (user_id, state, requested_at, claimed_at) VALUES "
                "($1, 'pending', now(), NULL), ($1, 'building', now(), now()), "
                "($1, 'ready', now(), NULL)", user)
            await pool.execute("INSERT INTO password_resets (token_hash, user_id, expires_at) "
                               "VALUES ('\\x01', $1, now() + interval '1 hour')", user)
            await _mark_a_copy(url, "copy-id")
            # The reset link mailed by the original is spent on the copy.
            assert await pool.fetchval("SELECT used_at IS NOT NULL FROM password_resets")
            missed = await pool.fetch("SELECT conversation_id, pending, due_at, mailed_through "
                                      "FROM missed_messages ORDER BY conversation_id")
            assert [tuple(r) for r in missed] == [
                ("due", [], None, 3), ("later", [], None, 6), ("mailed", [], None, 9)]
            exports = await pool.fetch("SELECT state, claimed_at FROM exports "
                                       "ORDER BY state")
            assert [tuple(r) for r in exports] == [
                ("failed", None), ("failed", None), ("ready", None)]
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
