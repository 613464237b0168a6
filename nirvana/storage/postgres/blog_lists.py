"""Lists of blogs in PostgreSQL: the feeds (everyone's and a reader's following), pages, the
sitemap's parts, an author's drafts, the tags, and whether a signed-in reader's feed page
may differ from an anonymous reader's. Each list holds only what its viewer may see
(blog_visibility.py)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from ...domain.blogs.model import Blog, FeedPosition, TagCount
from ...domain.blogs.search import Candidate
from .blog_rows import BLOG_COLUMNS, BLOG_FROM, NEWEST_FIRST, blog_from_row
from .blog_visibility import CIRCLE_ARRAYS, Params, visible_to

# People whose blogs make up a user's following feed: those they follow, and their friends.
FOLLOWED_IDS = """SELECT followee_id FROM follows WHERE follower_id = {v}
        UNION
        SELECT friend_id FROM friendships WHERE user_id = {v}"""


class PgBlogLists:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def feed(self, viewer_id: int | None, after: FeedPosition | None, limit: int,
                   following_of: int | None = None) -> list[Blog]:
        p = Params()
        where = visible_to(viewer_id, p)
        if after is not None:
            # Keyset: a row comparison on the index's own columns; stable as posts arrive.
            where.append(f"(b.published_at, b.id) < ({p(after.published_at)}, {p(after.id)})")
        source = "blogs b"
        if following_of is not None:
            # Walking the global index and filtering by author reads many rows for someone
            # who follows few people; instead take each followed author's newest `limit`
            # from their own index and merge: at most (people followed x limit) index rows.
            v, n = p(following_of, "::bigint"), p(limit)
            source = f"""(SELECT nb.* FROM ({FOLLOWED_IDS.format(v=v)}) f(author_id)
                          CROSS JOIN LATERAL (
                              SELECT b.* FROM blogs b
                              WHERE b.author_id = f.author_id AND {' AND '.join(where)}
                              {NEWEST_FIRST} LIMIT {n}) nb) b"""
        rows = await self._pool.fetch(
            f"SELECT {BLOG_COLUMNS} {BLOG_FROM.replace('blogs b', source, 1)} "
            f"WHERE {' AND '.join(where)} {NEWEST_FIRST} LIMIT {p(limit)}", *p.values)
        return [blog_from_row(r) for r in rows]

    async def page(self, viewer_id: int | None, offset: int, limit: int) -> list[Blog]:
        # A deferred join: the OFFSET walks the partial index alone (an index-only scan of
        # ids), and only the `limit` rows kept are joined to their authors and locations.
        # Joining first made PostgreSQL build every skipped row (docs/performance.md).
        p = Params()
        where = visible_to(viewer_id, p)
        page = (f"SELECT b.id FROM blogs b WHERE {' AND '.join(where)} "
                f"{NEWEST_FIRST} OFFSET {p(offset)} LIMIT {p(limit)}")
        rows = await self._pool.fetch(
            f"SELECT {BLOG_COLUMNS} {BLOG_FROM} WHERE b.id IN ({page}) {NEWEST_FIRST}",
            *p.values)
        return [blog_from_row(r) for r in rows]

    async def total_for(self, viewer_id: int | None) -> int:
        public = "coalesce((SELECT value FROM blog_counters WHERE name = 'public'), 0)"
        if viewer_id is None:
            return int(await self._pool.fetchval(f"SELECT {public}"))
        # The counter, less the public blogs of authors blocked either way, plus the
        # non-public blogs the reader may read: a few authors' rows each, read by author
        # (blogs_author_published_idx, blogs_private_author_idx), never a count of the table.
        p = Params()
        v = p(viewer_id, "::bigint")
        return int(await self._pool.fetchval(
            f"""WITH c AS ({CIRCLE_ARRAYS.format(v=v)})
                SELECT {public}
                    - (SELECT count(*) FROM blogs b, c
                       WHERE b.author_id = ANY(c.blocked) AND b.status = 'published'
                         AND b.audience = 'public' AND b.hidden_at IS NULL)
                    + (SELECT count(*) FROM blogs b, c
                       WHERE b.status = 'published' AND b.hidden_at IS NULL
                         AND b.audience <> 'public'
                         AND b.author_id = ANY(c.close || c.followed)
                         AND NOT b.author_id = ANY(c.blocked)
                         AND (b.author_id = ANY(c.close) OR (b.audience = 'followers'
                              AND b.author_id = ANY(c.followed))))""", *p.values))

    async def differs_for(self, viewer_id: int, shown: list[Candidate],
                          after: FeedPosition | None, last: FeedPosition | None) -> bool:
        p = Params()
        v = p(viewer_id, "::bigint")
        authors = p(list({c.author_id for c in shown}), "::bigint[]")
        ids = p([c.id for c in shown], "::bigint[]")
        window = []
        if last is not None:
            window.append(f"(b.published_at, b.id) > ({p(last.published_at)}, {p(last.id)})")
        if after is not None:
            window.append(f"(b.published_at, b.id) < ({p(after.published_at)}, {p(after.id)})")
        # The reader's circle as arrays first (an InitPlan), so their blogs are read by
        # author from blogs_private_author_idx, behind OFFSET 0 (see blog_search.py,
        # reader_matches).
        return await self._pool.fetchval(
            f"""WITH c AS (SELECT
                    ARRAY(SELECT friend_id FROM friendships WHERE user_id = {v}) || {v} AS close,
                    ARRAY(SELECT followee_id FROM follows WHERE follower_id = {v}) AS followed)
                SELECT EXISTS (SELECT 1 FROM blocks k
                               WHERE (k.blocker_id = {v} AND k.blocked_id = ANY({authors}))
                                  OR (k.blocked_id = {v} AND k.blocker_id = ANY({authors})))
                    OR EXISTS (SELECT 1 FROM blog_reactions
                               WHERE user_id = {v} AND blog_id = ANY({ids}))
                    OR EXISTS (SELECT 1 FROM (
                        SELECT b.id FROM blogs b, c
                        WHERE b.status = 'published' AND b.hidden_at IS NULL
                          AND b.audience <> 'public'
                          AND b.author_id = ANY(c.close || c.followed)
                          AND (b.author_id = ANY(c.close)
                               OR (b.audience = 'followers' AND b.author_id = ANY(c.followed)))
                          {''.join(' AND ' + w for w in window)}
                        OFFSET 0) own)""", *p.values)

    async def visible_by_ids(self, viewer_id: int, ids: list[int]) -> list[Blog]:
        if not ids:
            return []
        p = Params()
        where = visible_to(viewer_id, p)
        rows = await self._pool.fetch(
            f"SELECT {BLOG_COLUMNS} {BLOG_FROM} WHERE b.id = ANY({p(ids, '::bigint[]')}) "
            f"AND {' AND '.join(where)}", *p.values)
        return [blog_from_row(r) for r in rows]

    async def public_pages(self, first_id: int, last_id: int) -> list[tuple[str, datetime]]:
        rows = await self._pool.fetch(
            "SELECT b.slug, b.updated_at FROM blogs b "
            "WHERE b.id BETWEEN $1 AND $2 AND b.status = 'published' "
            "AND b.audience = 'public' AND b.hidden_at IS NULL ORDER BY b.id",
            first_id, last_id)
        return [(r["slug"], r["updated_at"]) for r in rows]

    async def last_id(self) -> int:
        return await self._pool.fetchval("SELECT coalesce(max(id), 0) FROM blogs")

    async def drafts(self, author_id: int, limit: int) -> list[Blog]:
        rows = await self._pool.fetch(
            f"SELECT {BLOG_COLUMNS} {BLOG_FROM} WHERE b.author_id = $1 AND b.status <> 'published' "
            "ORDER BY b.updated_at DESC, b.id DESC LIMIT $2", author_id, limit)
        return [blog_from_row(r) for r in rows]

    async def tags(self, limit: int) -> list[TagCount]:
        # tag_counts is kept by triggers on blogs (schema.sql, step reactions).
        rows = await self._pool.fetch(
            "SELECT tag, n FROM tag_counts ORDER BY n DESC, tag LIMIT $1", limit)
        return [TagCount(r["tag"], r["n"]) for r in rows]
