"""PostgreSQL adapter of the BlogRepository port (domain/blogs/ports.py): one object composed
of the parts beside it, sharing one pool. Single blogs are read and written here; lists and
feeds (blog_lists.py), search (blog_search.py), reactions (blog_reactions.py) and places
(locations.py) have modules of their own; every list asks blog_visibility.py who may see
a blog, and every read makes its rows blogs as blog_rows.py says.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from ...domain.blogs.model import Audience, Blog, BlogFields, BlogStats
from ...domain.blogs.reactions import Reaction
from ...domain.idempotency import IdempotencyKey, replayed_or_refused
from .blog_lists import PgBlogLists
from .blog_reactions import PgBlogReactions
from .blog_rows import BLOG_COLUMNS, BLOG_FROM, blog_from_row
from .blog_search import PgBlogSearch
from .blog_visibility import NOT_BLOCKED
from .deadlock import once_more_if_deadlocked
from .locations import PgLocations, location_id

# The two-key advisory locks are a space apart from the one-key ones (the migrations',
# social.py's pairs); the first key names whose they are, here the blog creates' keys.
KEY_LOCK_CLASS = 24  # the schema step (0024) that gave blogs their keys
KEY_INDEX = "blogs_author_idempotency_key_idx"  # unique on (author_id, idempotency_key)


class PgBlogRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        lists, search = PgBlogLists(pool), PgBlogSearch(pool)
        reactions, places = PgBlogReactions(pool), PgLocations(pool)
        # The reads and writes each part holds, served as they are.
        self.feed = lists.feed
        self.page = lists.page
        self.total_for = lists.total_for
        self.differs_for = lists.differs_for
        self.visible_by_ids = lists.visible_by_ids
        self.public_pages = lists.public_pages
        self.last_id = lists.last_id
        self.drafts = lists.drafts
        self.tags = lists.tags
        self.search = search.search
        self.public_matches = search.public_matches
        self.reader_matches = search.reader_matches
        self.reaction_of = reactions.reaction_of
        self.reactions_of = reactions.reactions_of
        self.react = reactions.react
        self.unreact = reactions.unreact
        self.reactors = reactions.reactors
        self.locations = places.locations

    async def _get(self, conn: asyncpg.Connection | asyncpg.Pool, blog_id: int) -> Blog | None:
        row = await conn.fetchrow(f"SELECT {BLOG_COLUMNS} {BLOG_FROM} WHERE b.id = $1", blog_id)
        return blog_from_row(row) if row else None

    async def create(self, author_id: int, fields: BlogFields, now: datetime,
                     published_at: datetime | None, slug: str,
                     key: IdempotencyKey | None = None) -> tuple[Blog, bool]:
        while True:
            try:
                # A slug's claim (schema.sql step 0028) holds its title's counter row to the
                # end of the transaction. One claiming several slugs (a seed batch) can hold
                # the numbered slug this claim waits on and then wait on that counter row: if
                # PostgreSQL ends this side, it stored nothing (key included) and goes again
                # behind the other.
                return await once_more_if_deadlocked(
                    lambda: self._create(author_id, fields, now, published_at, slug, key),
                    f"blog create by user {author_id}")
            except asyncpg.UniqueViolationError as exc:
                # Only a writer of keys without the lock below (an older instance, during a
                # rolling deploy) can make the insert meet the key: answer its blog, or
                # insert again if that blog was deleted since.
                if key is None or exc.constraint_name != KEY_INDEX:
                    raise
                if (found := await self.keyed(author_id, key)) is not None:
                    return found, False

    async def _create(self, author_id: int, fields: BlogFields, now: datetime,
                      published_at: datetime | None, slug: str,
                      key: IdempotencyKey | None) -> tuple[Blog, bool]:
        # READ COMMITTED whatever the server's default: the lookup after the lock must take
        # a snapshot of its own, which sees a twin committed while this create waited.
        async with self._pool.acquire() as conn, conn.transaction(isolation="read_committed"):
            if key is not None:
                # Not ON CONFLICT: the insert trigger (schema.sql step 0007) claims the slug
                # before the key's conflict is seen. Under this lock a twin of the key has
                # committed (and is found) or has not begun, so the insert never meets the
                # key and PostgreSQL logs no error, as long as every writer of keys takes
                # it (see create for one that does not). Taken first, while the transaction
                # holds nothing else, so waiting on it cannot close a cycle.
                await conn.execute(
                    "SELECT pg_advisory_xact_lock($1, hashtext($2::bigint || ':' || $3))",
                    KEY_LOCK_CLASS, author_id, key.key)
                if (found := await self._keyed(conn, author_id, key)) is not None:
                    return found, False
            place_id = await location_id(conn, fields.place) if fields.place else None
            # The slug sent is the one asked for; the insert trigger (step 0007) stores
            # its first free variant.
            blog_id = await conn.fetchval(
                """INSERT INTO blogs (author_id, title, body, summary, header_image,
                                      images, tags, location_id, status, created_at,
                                      updated_at, published_at, slug, audience,
                                      idempotency_key, idempotency_fingerprint)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12,
                           $13, $14, $15)
                   RETURNING id""",
                author_id, fields.title, fields.body, fields.summary,
                fields.header_image, list(fields.images), list(fields.tags),
                place_id, fields.status.value, now, published_at, slug,
                fields.audience.value, key and key.key, key and key.fingerprint)
            blog = await self._get(conn, blog_id)
        assert blog is not None
        return blog, True

    async def keyed(self, author_id: int, key: IdempotencyKey) -> Blog | None:
        return await self._keyed(self._pool, author_id, key)

    async def _keyed(self, conn: asyncpg.Connection | asyncpg.Pool, author_id: int,
                     key: IdempotencyKey) -> Blog | None:
        """The blog this author stored under `key`, if any (IdempotencyKeyReusedError if
        another request stored it)."""
        row = await conn.fetchrow(
            "SELECT id, idempotency_fingerprint FROM blogs "
            "WHERE author_id = $1 AND idempotency_key = $2", author_id, key.key)
        if row is None:
            return None
        replayed_or_refused(key, row["idempotency_fingerprint"])
        return await self._get(conn, row["id"])

    async def get(self, blog_id: int) -> Blog | None:
        return await self._get(self._pool, blog_id)

    async def get_by_slug(self, slug: str) -> Blog | None:
        row = await self._pool.fetchrow(
            f"SELECT {BLOG_COLUMNS} {BLOG_FROM} "
            "WHERE b.id = (SELECT blog_id FROM blog_slugs WHERE slug = $1)", slug)
        return blog_from_row(row) if row else None

    async def update(self, blog_id: int, fields: BlogFields, *, expected_updated_at: datetime,
                     updated_at: datetime, published_at: datetime | None,
                     slug: str | None = None) -> Blog | None:
        # A new title's claim can deadlock as a create's can (see create); the edit goes
        # again with the same updated_at check.
        return await once_more_if_deadlocked(
            lambda: self._update(blog_id, fields, expected_updated_at, updated_at,
                                 published_at, slug), f"blog {blog_id} edit")

    async def _update(self, blog_id: int, fields: BlogFields, expected_updated_at: datetime,
                      updated_at: datetime, published_at: datetime | None,
                      slug: str | None) -> Blog | None:
        async with self._pool.acquire() as conn, conn.transaction():
            place_id = await location_id(conn, fields.place) if fields.place else None
            # The updated_at condition makes the check and the write one atomic step; a new
            # slug is claimed only by the edit that wins it.
            done = await conn.fetchval(
                """UPDATE blogs SET title = $2, body = $3, summary = $4, header_image = $5,
                                    images = $6, tags = $7, location_id = $8, status = $9,
                                    updated_at = $10, published_at = $11, audience = $14,
                                    slug = CASE WHEN $13::text IS NULL THEN slug
                                                ELSE blog_take_slug(id, $13) END
                   WHERE id = $1 AND updated_at = $12
                   RETURNING id""",
                blog_id, fields.title, fields.body, fields.summary, fields.header_image,
                list(fields.images), list(fields.tags), place_id, fields.status.value,
                updated_at, published_at, expected_updated_at, slug, fields.audience.value)
            return await self._get(conn, blog_id) if done else None

    async def delete(self, blog_id: int) -> None:
        await self._pool.execute("DELETE FROM blogs WHERE id = $1", blog_id)

    async def set_hidden(self, blog_id: int, hidden_at: datetime | None) -> bool:
        return await self._pool.fetchval(
            "UPDATE blogs SET hidden_at = $2 WHERE id = $1 RETURNING true",
            blog_id, hidden_at) is not None

    async def in_audience(self, author_id: int, viewer_id: int, audience: Audience) -> bool:
        if audience is Audience.PUBLIC:
            return True
        return bool(await self._pool.fetchval(
            """SELECT EXISTS (SELECT 1 FROM friendships WHERE user_id = $2 AND friend_id = $1)
                   OR ($3 = 'followers' AND EXISTS (
                       SELECT 1 FROM follows WHERE follower_id = $2 AND followee_id = $1))""",
            author_id, viewer_id, audience.value))

    async def publish_due(self, now: datetime) -> list[Blog]:
        # The status condition is re-checked on each row after any concurrent writer
        # commits, so of two processes publishing at once each blog goes to exactly one.
        rows = await self._pool.fetch(
            f"""WITH due AS (
                   UPDATE blogs SET status = 'published',
                          updated_at = greatest($1, updated_at + interval '1 microsecond')
                   WHERE status = 'scheduled' AND published_at <= $1
                   RETURNING *)
               SELECT {BLOG_COLUMNS} FROM due b JOIN users u ON u.id = b.author_id
               LEFT JOIN locations l ON l.id = b.location_id
               ORDER BY b.published_at, b.id""", now)
        return [blog_from_row(r) for r in rows]

    async def next_scheduled(self) -> datetime | None:
        return await self._pool.fetchval(
            "SELECT min(published_at) FROM blogs WHERE status = 'scheduled'")

    async def is_blocked(self, user_a: int, user_b: int) -> bool:
        return await self._pool.fetchval(
            """SELECT EXISTS (SELECT 1 FROM blocks
                              WHERE (blocker_id = $1 AND blocked_id = $2)
                                 OR (blocker_id = $2 AND blocked_id = $1))""",
            user_a, user_b)

    async def reader_of(self, blog_id: int, viewer_id: int) -> tuple[bool, Reaction | None]:
        row = await self._pool.fetchrow(
            f"""SELECT EXISTS (SELECT 1 FROM blogs b WHERE b.id = $1
                               AND NOT {NOT_BLOCKED.format(v="$2::bigint")}) AS blocked,
                       (SELECT kind FROM blog_reactions
                        WHERE blog_id = $1 AND user_id = $2) AS kind""", blog_id, viewer_id)
        return row["blocked"], Reaction(row["kind"]) if row["kind"] is not None else None

    async def stats(self, author_id: int) -> BlogStats:
        row = await self._pool.fetchrow(
            """SELECT count(*) AS blogs,
                      count(*) FILTER (WHERE status = 'published') AS published,
                      coalesce(sum(likes_count), 0) AS total_likes
               FROM blogs WHERE author_id = $1""",
            author_id)
        return BlogStats(row["blogs"], row["published"], int(row["total_likes"]))
