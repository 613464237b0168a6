"""PostgreSQL adapter of the CommentRepository port. blogs.comments_count follows the rows
through triggers, in the same transaction as the insert or delete."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from ...domain.blogs.authors import Author
from ...domain.blogs.model import Comment
from ...domain.errors import NotFoundError
from ...domain.idempotency import IdempotencyKey, replayed_or_refused

COMMENT_SELECT = """
    SELECT c.id, c.blog_id, c.body, c.created_at, c.updated_at,
           c.hidden_at IS NOT NULL AS hidden,
           u.id AS author_id, u.username::text AS author_username, u.name AS author_name,
           u.avatar_url AS author_avatar
    FROM blog_comments c JOIN users u ON u.id = c.author_id"""


def comment_from_row(row: asyncpg.Record) -> Comment:
    return Comment(
        id=row["id"],
        blog_id=row["blog_id"],
        author=Author(row["author_id"], row["author_username"], row["author_name"],
                      row["author_avatar"]),
        body=row["body"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        hidden=row["hidden"],
    )


class PgCommentRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def add(self, blog_id: int, author_id: int, body: str, now: datetime,
                  key: IdempotencyKey | None = None) -> tuple[Comment, bool]:
        while True:
            try:
                # A key already stored inserts nothing: a concurrent twin waits for the
                # winner's commit, then reads its row below.
                comment_id = await self._pool.fetchval(
                    "INSERT INTO blog_comments (blog_id, author_id, body, created_at, "
                    "    updated_at, idempotency_key, idempotency_fingerprint) "
                    "VALUES ($1, $2, $3, $4, $4, $5, $6) "
                    "ON CONFLICT (author_id, idempotency_key) "
                    "    WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id",
                    blog_id, author_id, body, now, key and key.key, key and key.fingerprint)
            except asyncpg.ForeignKeyViolationError:  # the blog was deleted a moment ago
                raise NotFoundError("No such blog.", code="blog_not_found") from None
            if comment_id is not None:
                return await self._must_get(comment_id), True
            assert key is not None
            found = await self.keyed(author_id, key)
            if found is not None:
                return found, False
            # Deleted between the insert and this read: its key is free, insert again.

    async def keyed(self, author_id: int, key: IdempotencyKey) -> Comment | None:
        row = await self._pool.fetchrow(
            "SELECT id, idempotency_fingerprint FROM blog_comments "
            "WHERE author_id = $1 AND idempotency_key = $2", author_id, key.key)
        if row is None:
            return None
        replayed_or_refused(key, row["idempotency_fingerprint"])
        return await self.get(row["id"])

    async def get(self, comment_id: int) -> Comment | None:
        row = await self._pool.fetchrow(f"{COMMENT_SELECT} WHERE c.id = $1", comment_id)
        return comment_from_row(row) if row else None

    async def _must_get(self, comment_id: int) -> Comment:
        comment = await self.get(comment_id)
        if comment is None:
            raise NotFoundError("No such comment.", code="comment_not_found")
        return comment

    async def edit(self, comment_id: int, body: str, now: datetime) -> Comment:
        await self._pool.execute(
            "UPDATE blog_comments SET body = $2, updated_at = $3 WHERE id = $1",
            comment_id, body, now)
        return await self._must_get(comment_id)

    async def delete(self, comment_id: int) -> list[int]:
        async with self._pool.acquire() as conn, conn.transaction():
            # The blog's row first (the count trigger's lock), then the comment's, then its
            # notifications: the order a blog's deletion takes them by its cascade, and an
            # account's deletion (accounts.py), so each waits for the other instead of the
            # trigger and the cascade deadlocking. Deleted first, the notifications name the
            # recipients whose unread count just changed (a cascade says nothing of whose).
            await conn.execute(
                "SELECT 1 FROM blogs WHERE id = (SELECT blog_id FROM blog_comments WHERE id = $1)"
                " FOR NO KEY UPDATE", comment_id)
            await conn.execute("SELECT 1 FROM blog_comments WHERE id = $1 FOR UPDATE", comment_id)
            rows = await conn.fetch(
                "DELETE FROM notifications WHERE comment_id = $1 RETURNING recipient_id, read_at",
                comment_id)
            await conn.execute("DELETE FROM blog_comments WHERE id = $1", comment_id)
        return sorted({r["recipient_id"] for r in rows if r["read_at"] is None})

    async def list(self, blog_id: int, offset: int, limit: int) -> list[Comment]:
        rows = await self._pool.fetch(
            f"{COMMENT_SELECT} WHERE c.blog_id = $1 AND c.hidden_at IS NULL ORDER BY c.id OFFSET $2 LIMIT $3",
            blog_id, offset, limit)
        return [comment_from_row(r) for r in rows]

    async def set_hidden(self, comment_id: int, hidden_at: datetime | None) -> bool:
        return await self._pool.fetchval(
            "UPDATE blog_comments SET hidden_at = $2 WHERE id = $1 RETURNING true",
            comment_id, hidden_at) is not None
