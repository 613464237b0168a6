"""PostgreSQL adapters for exports (domain/exports/): the job rows, and the account's own
rows read for its archive."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, Sequence

import asyncpg

from ...domain.exports.jobs import ExportJob, ExportState
from .notifications import SHOWN

JOB_COLUMNS = "id::text AS id, user_id, state, requested_at, ready_at, expires_at, size, attempts"


def _job(row: asyncpg.Record) -> ExportJob:
    return ExportJob(id=row["id"], user_id=row["user_id"], state=ExportState(row["state"]),
                     requested_at=row["requested_at"], ready_at=row["ready_at"],
                     expires_at=row["expires_at"], size=row["size"], attempts=row["attempts"])


class PgExportJobs:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(self, user_id: int, now: datetime) -> ExportJob:
        row = await self._pool.fetchrow(
            f"INSERT INTO exports (user_id, state, requested_at) VALUES ($1, 'pending', $2) "
            f"RETURNING {JOB_COLUMNS}", user_id, now)
        return _job(row)

    async def get(self, export_id: str) -> ExportJob | None:
        try:
            key = uuid.UUID(export_id)
        except ValueError:
            return None
        row = await self._pool.fetchrow(f"SELECT {JOB_COLUMNS} FROM exports WHERE id = $1", key)
        return _job(row) if row else None

    async def of_user(self, user_id: int, since: datetime) -> list[ExportJob]:
        rows = await self._pool.fetch(
            f"SELECT {JOB_COLUMNS} FROM exports WHERE user_id = $1 AND requested_at > $2 "
            f"ORDER BY requested_at DESC", user_id, since)
        return [_job(r) for r in rows]

    async def claim(self, now: datetime, lease: timedelta) -> ExportJob | None:
        # SKIP LOCKED: several processes may run a worker; each takes a different row.
        row = await self._pool.fetchrow(
            f"UPDATE exports SET state = 'building', claimed_at = $1, attempts = attempts + 1 "
            f"WHERE id = (SELECT id FROM exports WHERE state = 'pending' "
            f"  OR (state = 'building' AND claimed_at < $2) "
            f"  ORDER BY requested_at LIMIT 1 FOR UPDATE SKIP LOCKED) "
            f"RETURNING {JOB_COLUMNS}", now, now - lease)
        if row is None:
            return None
        job = _job(row)
        # `attempts` counts this one: the service compares attempts before it.
        return ExportJob(job.id, job.user_id, job.state, job.requested_at,
                         attempts=job.attempts - 1)

    async def finish(self, export_id: str, size: int, ready_at: datetime,
                     expires_at: datetime) -> None:
        await self._pool.execute(
            "UPDATE exports SET state = 'ready', size = $2, ready_at = $3, expires_at = $4 "
            "WHERE id = $1", uuid.UUID(export_id), size, ready_at, expires_at)

    async def give_back(self, export_id: str, give_up: bool) -> None:
        await self._pool.execute(
            "UPDATE exports SET state = $2, claimed_at = NULL WHERE id = $1",
            uuid.UUID(export_id), "failed" if give_up else "pending")

    async def expire(self, now: datetime) -> list[str]:
        rows = await self._pool.fetch(
            "UPDATE exports SET state = 'expired' WHERE state = 'ready' AND expires_at <= $1 "
            "RETURNING id::text AS id", now)
        return [r["id"] for r in rows]

    async def live_ids(self) -> set[str]:
        rows = await self._pool.fetch("SELECT id::text AS id FROM exports "
                                      "WHERE state IN ('pending', 'building', 'ready')")
        return {r["id"] for r in rows}


# The user's lists in the social graph, as the archive names them: (name, table, the column
# that holds this user, the column that holds the other user).
SOCIAL_LISTS = (
    ("friends", "friendships", "user_id", "friend_id"),
    ("friend_requests_sent", "friend_requests", "from_user", "to_user"),
    ("friend_requests_received", "friend_requests", "to_user", "from_user"),
    ("following", "follows", "follower_id", "followee_id"),
    ("followers", "follows", "followee_id", "follower_id"),
    ("blocking", "blocks", "blocker_id", "blocked_id"),
)


def _rows(rows: list[asyncpg.Record]) -> list[dict[str, Any]]:
    return [dict(r) for r in rows]


class PgAccountRecords:
    """The account's rows. Other users appear by id only (people.json names them); nothing
    that only someone else may see is read: not who blocks the user, not the titles of
    others' blogs (one may be for its author's friends only)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def collect(self, user_id: int) -> dict[str, Any]:
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read",
                                                                  readonly=True):
            profile = await conn.fetchrow(
                "SELECT id, email::text AS email, username::text AS username, name, about, "
                "avatar_url, status, email_verified, role, created_at, updated_at "
                "FROM users WHERE id = $1", user_id)
            blogs = _rows(await conn.fetch(
                "SELECT b.id, b.slug, b.title, b.summary, b.body, b.status, b.audience, "
                "b.tags, b.header_image, b.images, l.city, l.country, b.created_at, "
                "b.updated_at, b.published_at, b.likes_count, b.comments_count "
                "FROM blogs b LEFT JOIN locations l ON l.id = b.location_id "
                "WHERE b.author_id = $1 ORDER BY b.id", user_id))
            written = _rows(await conn.fetch(
                "SELECT id, blog_id, body, created_at, updated_at FROM blog_comments "
                "WHERE author_id = $1 ORDER BY id", user_id))
            received = _rows(await conn.fetch(
                "SELECT c.id, c.blog_id, c.author_id, c.body, c.created_at, c.updated_at "
                "FROM blog_comments c JOIN blogs b ON b.id = c.blog_id "
                "WHERE b.author_id = $1 AND c.author_id <> $1 ORDER BY c.id", user_id))
            liked = _rows(await conn.fetch(
                "SELECT blog_id, kind, created_at FROM blog_reactions WHERE user_id = $1 "
                "ORDER BY created_at", user_id))
            likers = _rows(await conn.fetch(
                "SELECT l.blog_id, l.user_id, l.kind, l.created_at FROM blog_reactions l "
                "JOIN blogs b ON b.id = l.blog_id WHERE b.author_id = $1 AND l.user_id <> $1 "
                "ORDER BY l.created_at", user_id))
            social = {
                name: _rows(await conn.fetch(
                    f"SELECT {other} AS user_id, created_at FROM {table} "
                    f"WHERE {mine} = $1 ORDER BY created_at", user_id))
                for name, table, mine, other in SOCIAL_LISTS
            }
            # The upload ledger: every file of the user's that this server issued, under
            # the name it was sent with (schema step 0023), in use or not.
            files = _rows(await conn.fetch(
                "SELECT url, original_name, kind, mime, size, created_at FROM media_uploads "
                "WHERE owner_id = $1 ORDER BY created_at, url", user_id))
            notifications = _rows(await conn.fetch(
                "SELECT n.id, n.kind, n.blog_id, n.comment_id, n.text, n.actor_count, "
                "ARRAY(SELECT a.actor_id FROM notification_actors a "
                "      WHERE a.notification_id = n.id ORDER BY a.at DESC) AS actor_ids, "
                "n.created_at, n.updated_at, n.read_at FROM notifications n "
                f"WHERE n.recipient_id = $1 AND {SHOWN} ORDER BY n.id", user_id))
        people = {r["author_id"] for r in received} | {r["user_id"] for r in likers} | {
            r["user_id"] for rows in social.values() for r in rows} | {
            a for n in notifications for a in n["actor_ids"]}
        uploads = {u for u in [profile["avatar_url"]] if u} | {
            b["header_image"] for b in blogs if b["header_image"]} | {
            image for b in blogs for image in b["images"]}
        return {
            "profile": dict(profile),
            "blogs": blogs,
            "comments": {"written": written, "received_on_your_blogs": received},
            "likes": {"given": liked, "received_on_your_blogs": likers},
            "social": social,
            "notifications": notifications,
            "files": files,
            "people_ids": sorted(people),
            "uploads": sorted(uploads),
        }

    async def people(self, user_ids: Sequence[int]) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            "SELECT id, username::text AS username, name FROM users WHERE id = ANY($1) "
            "ORDER BY id", list(user_ids))
        return _rows(rows)
