"""PostgreSQL adapter of the BlogRepository port.

Every list is one query: authors and locations are joined, tags live in the row, and the
likes and comments counts are columns kept exact by triggers (see schema.sql step 0003).
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from ...domain.blogs.model import (
    Audience,
    Author,
    Blog,
    BlogFields,
    BlogFilter,
    BlogStats,
    BlogStatus,
    FeedPosition,
    Location,
    Place,
    TagCount,
)
from ...domain.blogs.reactions import Reaction, ReactionCounts, Reactor
from ...domain.blogs.search import SEARCH_CANDIDATES, Candidate
from ...domain.errors import NotFoundError

BLOG_COLUMNS = """
    b.id, b.title, b.body, b.summary, b.header_image, b.images, b.tags, b.status,
    b.created_at, b.updated_at, b.published_at, b.likes_count, b.comments_count, b.slug,
    b.audience, b.hidden_at IS NOT NULL AS hidden, b.love_count, b.haha_count, b.wow_count,
    b.sad_count, b.angry_count,
    u.id AS author_id, u.username::text AS author_username, u.name AS author_name,
    u.avatar_url AS author_avatar, l.id AS location_id, l.city, l.country"""

BLOG_FROM = """
    FROM blogs b
    JOIN users u ON u.id = b.author_id
    LEFT JOIN locations l ON l.id = b.location_id"""

# Either direction of a block hides an author's blogs from the viewer.
NOT_BLOCKED = """NOT EXISTS (
        SELECT 1 FROM blocks k
        WHERE (k.blocker_id = b.author_id AND k.blocked_id = {v})
           OR (k.blocker_id = {v} AND k.blocked_id = b.author_id))"""

# People whose blogs make up a user's following feed: those they follow, and their friends.
FOLLOWED_IDS = """SELECT followee_id FROM follows WHERE follower_id = {v}
        UNION
        SELECT friend_id FROM friendships WHERE user_id = {v}"""

NEWEST_FIRST = "ORDER BY b.published_at DESC, b.id DESC"


def blog_from_row(row: asyncpg.Record) -> Blog:
    location = None
    if row["location_id"] is not None:
        location = Location(row["location_id"], row["city"], row["country"])
    return Blog(
        id=row["id"],
        author=Author(row["author_id"], row["author_username"], row["author_name"],
                      row["author_avatar"]),
        title=row["title"],
        body=row["body"],
        summary=row["summary"],
        header_image=row["header_image"],
        images=tuple(row["images"]),
        tags=tuple(row["tags"]),
        location=location,
        status=BlogStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        published_at=row["published_at"],
        likes_count=row["likes_count"],
        comments_count=row["comments_count"],
        slug=row["slug"],
        audience=Audience(row["audience"]),
        hidden=row["hidden"],
        reactions=counts_from_row(row),
    )


def counts_from_row(row: asyncpg.Record) -> ReactionCounts:
    return ReactionCounts(like=row["likes_count"], love=row["love_count"],
                          haha=row["haha_count"], wow=row["wow_count"], sad=row["sad_count"],
                          angry=row["angry_count"])


COUNT_COLUMNS = "likes_count, love_count, haha_count, wow_count, sad_count, angry_count"


class Params:
    """Collects query arguments and hands out their $n placeholders, so conditions can be
    added to a query one by one while every value still travels as a parameter."""

    def __init__(self) -> None:
        self.values: list[object] = []

    def __call__(self, value: object, cast: str = "") -> str:
        self.values.append(value)
        return f"${len(self.values)}{cast}"


# The audience rule (domain/blogs/model.py Audience), for a signed-in viewer {v}.
IN_AUDIENCE = """(b.audience = 'public' OR b.author_id = {v}
        OR EXISTS (SELECT 1 FROM friendships fr
                   WHERE fr.user_id = {v} AND fr.friend_id = b.author_id)
        OR (b.audience = 'followers' AND EXISTS (
                SELECT 1 FROM follows fo
                WHERE fo.follower_id = {v} AND fo.followee_id = b.author_id)))"""


def visible_to(viewer_id: int | None, p: Params) -> list[str]:
    """The one condition of every list read: published, in the viewer's audience, no block."""
    where = ["b.status = 'published'", "b.hidden_at IS NULL"]
    if viewer_id is None:
        where.append("b.audience = 'public'")
    else:
        v = p(viewer_id, "::bigint")
        where.append(NOT_BLOCKED.format(v=v))
        where.append(IN_AUDIENCE.format(v=v))
    return where


def matching(terms: BlogFilter, p: Params, where: list[str]) -> str | None:
    """Adds the search terms' conditions to `where`; returns the text query when `q` is
    set (what ranks the matches)."""
    query = None
    if terms.q is not None:
        query = f"websearch_to_tsquery('simple', nirvana_search_text({p(terms.q)}))"
        where.append(f"b.search @@ {query}")
    if terms.author_id is not None:
        where.append(f"b.author_id = {p(terms.author_id)}")
    if terms.tag is not None:
        where.append(f"b.tags @> ARRAY[{p(terms.tag, '::text')}]")
    if terms.city is not None:
        where.append(f"l.city_key = nirvana_fold({p(terms.city)})")
    if terms.country is not None:
        where.append(f"l.country_key = nirvana_fold({p(terms.country)})")
    if terms.since is not None:
        where.append(f"b.published_at >= {p(terms.since)}")
    if terms.until is not None:
        where.append(f"b.published_at <= {p(terms.until)}")
    return query


async def location_id(conn: asyncpg.Connection, place: Place) -> int:
    """The id of the place's Location, created on first use. Select first: nearly every
    blog names a known place, and a failed INSERT would still spend an identity value."""
    find = ("SELECT id FROM locations "
            "WHERE city_key = nirvana_fold($1) AND country_key = nirvana_fold($2)")
    found = await conn.fetchval(find, place.city, place.country)
    if found is None:
        found = await conn.fetchval(
            "INSERT INTO locations (city, country) VALUES ($1, $2) "
            "ON CONFLICT (city_key, country_key) DO NOTHING RETURNING id",
            place.city, place.country)
    if found is None:
        # A concurrent writer created it after our first look; now it is committed.
        found = await conn.fetchval(find, place.city, place.country)
    return found


class PgBlogRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def _get(self, conn: asyncpg.Connection | asyncpg.Pool, blog_id: int) -> Blog | None:
        row = await conn.fetchrow(f"SELECT {BLOG_COLUMNS} {BLOG_FROM} WHERE b.id = $1", blog_id)
        return blog_from_row(row) if row else None

    async def create(self, author_id: int, fields: BlogFields, now: datetime,
                     published_at: datetime | None, slug: str) -> Blog:
        async with self._pool.acquire() as conn, conn.transaction():
            place_id = await location_id(conn, fields.place) if fields.place else None
            # The slug sent is the one asked for; the insert trigger (schema.sql step 0007)
            # stores its first free variant.
            blog_id = await conn.fetchval(
                """INSERT INTO blogs (author_id, title, body, summary, header_image, images,
                                      tags, location_id, status, created_at, updated_at,
                                      published_at, slug, audience)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13)
                   RETURNING id""",
                author_id, fields.title, fields.body, fields.summary, fields.header_image,
                list(fields.images), list(fields.tags), place_id, fields.status.value, now,
                published_at, slug, fields.audience.value)
            blog = await self._get(conn, blog_id)
        assert blog is not None
        return blog

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

    async def published_total(self) -> int:
        value = await self._pool.fetchval(
            "SELECT value FROM blog_counters WHERE name = 'published'")
        return int(value or 0)

    async def search(self, viewer_id: int | None, terms: BlogFilter, offset: int,
                     limit: int) -> list[Blog]:
        p = Params()
        where = visible_to(viewer_id, p)
        rank, order = "", NEWEST_FIRST
        query = matching(terms, p, where)
        if query is not None:
            rank = f", ts_rank(b.search, {query}) AS rank"
            order = "ORDER BY rank DESC, b.published_at DESC, b.id DESC"
        if terms.q is None:
            rows = await self._pool.fetch(
                f"SELECT {BLOG_COLUMNS} {BLOG_FROM} WHERE {' AND '.join(where)} "
                f"{order} OFFSET {p(offset)} LIMIT {p(limit)}", *p.values)
            return [blog_from_row(r) for r in rows]
        # Ranking reads each match's tsvector, so a common word (half of 100,000 blogs)
        # cost seconds a query and timed out under load. Relevance is ranked among the
        # newest SEARCH_CANDIDATES matches only: a bounded cost whatever the word.
        candidates = (f"(SELECT b.* FROM blogs b LEFT JOIN locations l ON l.id = b.location_id"
                      f" WHERE {' AND '.join(where)} {NEWEST_FIRST}"
                      f" LIMIT {SEARCH_CANDIDATES}) b")
        async with self._pool.acquire() as conn, conn.transaction(readonly=True):
            # Planned for the term each time. asyncpg prepares statements, and after five
            # runs PostgreSQL may switch to a generic plan that cannot know how common the
            # term is: it read every match of a common word through the text index, where
            # walking the newest-first index stops early (docs/performance.md).
            await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            rows = await conn.fetch(
                f"SELECT {BLOG_COLUMNS}{rank} {BLOG_FROM.replace('blogs b', candidates, 1)} "
                f"{order} OFFSET {p(offset)} LIMIT {p(limit)}", *p.values)
        return [blog_from_row(r) for r in rows]

    async def public_matches(self, terms: BlogFilter, limit: int) -> list[Candidate]:
        p = Params()
        where = visible_to(None, p)
        return await self._candidates(terms, p, where, limit)

    async def reader_matches(self, viewer_id: int, terms: BlogFilter, limit: int,
                             page_ids: list[int]) -> tuple[frozenset[int], list[Candidate], bool]:
        p = Params()
        v = p(viewer_id, "::bigint")
        ids = p(page_ids, "::bigint[]")
        where: list[str] = []
        query = matching(terms, p, where)
        assert query is not None, "candidates are ranked: terms.q is required"
        # One statement, one round trip: the reader's circle as arrays, then their blogs by
        # author. A condition on the circle inside the search made PostgreSQL walk every
        # published blog; OFFSET 0 keeps the terms out of the inner read, so the circle's
        # blogs come from blogs_private_author_idx and the text is tested on those few
        # (a generic plan otherwise intersected them with every match of a common word;
        # figures in docs/performance.md, "Reads at scale").
        rows = await self._pool.fetch(
            f"""WITH c AS (
                    SELECT ARRAY(SELECT blocked_id FROM blocks WHERE blocker_id = {v}
                                 UNION SELECT blocker_id FROM blocks WHERE blocked_id = {v})
                             AS blocked,
                           ARRAY(SELECT friend_id FROM friendships WHERE user_id = {v}) || {v}
                             AS close,
                           ARRAY(SELECT followee_id FROM follows WHERE follower_id = {v})
                             AS followed),
                r AS (SELECT blocked,
                             ARRAY(SELECT unnest(close) EXCEPT SELECT unnest(blocked)) AS close,
                             ARRAY(SELECT unnest(followed) EXCEPT SELECT unnest(blocked))
                               AS followed
                      FROM c)
                SELECT r.blocked,
                       EXISTS (SELECT 1 FROM blog_reactions
                               WHERE user_id = {v} AND blog_id = ANY({ids})) AS reacted,
                       m.id, m.author_id, m.published_at, m.rank
                FROM r LEFT JOIN LATERAL (
                    SELECT b.id, b.author_id, b.published_at,
                           ts_rank(b.search, {query}) AS rank
                    FROM (SELECT * FROM blogs b
                          WHERE b.status = 'published' AND b.hidden_at IS NULL
                            AND b.audience <> 'public'
                            AND b.author_id = ANY(r.close || r.followed)
                            AND (b.author_id = ANY(r.close) OR (b.audience = 'followers'
                                 AND b.author_id = ANY(r.followed)))
                          OFFSET 0) b
                    LEFT JOIN locations l ON l.id = b.location_id
                    WHERE {' AND '.join(where)} {NEWEST_FIRST} LIMIT {p(limit)}) m ON true""",
            *p.values)
        own = [Candidate(r["id"], r["author_id"], r["published_at"], r["rank"])
               for r in rows if r["id"] is not None]
        return frozenset(rows[0]["blocked"]), own, rows[0]["reacted"]

    async def _candidates(self, terms: BlogFilter, p: Params, where: list[str],
                          limit: int) -> list[Candidate]:
        query = matching(terms, p, where)
        assert query is not None, "candidates are ranked: terms.q is required"
        sql = (f"SELECT b.id, b.author_id, b.published_at, ts_rank(b.search, {query}) AS rank "
               f"FROM blogs b LEFT JOIN locations l ON l.id = b.location_id "
               f"WHERE {' AND '.join(where)} {NEWEST_FIRST} LIMIT {p(limit)}")
        async with self._pool.acquire() as conn, conn.transaction(readonly=True):
            # The term decides the plan (see search).
            await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            rows = await conn.fetch(sql, *p.values)
        return [Candidate(r["id"], r["author_id"], r["published_at"], r["rank"]) for r in rows]

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
        # author from blogs_private_author_idx, behind OFFSET 0 (see reader_matches).
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

    async def reader_of(self, blog_id: int, viewer_id: int) -> tuple[bool, Reaction | None]:
        row = await self._pool.fetchrow(
            f"""SELECT EXISTS (SELECT 1 FROM blogs b WHERE b.id = $1
                               AND NOT {NOT_BLOCKED.format(v="$2::bigint")}) AS blocked,
                       (SELECT kind FROM blog_reactions
                        WHERE blog_id = $1 AND user_id = $2) AS kind""", blog_id, viewer_id)
        return row["blocked"], Reaction(row["kind"]) if row["kind"] is not None else None

    async def visible_by_ids(self, viewer_id: int, ids: list[int]) -> list[Blog]:
        if not ids:
            return []
        p = Params()
        where = visible_to(viewer_id, p)
        rows = await self._pool.fetch(
            f"SELECT {BLOG_COLUMNS} {BLOG_FROM} WHERE b.id = ANY({p(ids, '::bigint[]')}) "
            f"AND {' AND '.join(where)}", *p.values)
        return [blog_from_row(r) for r in rows]

    async def stats(self, author_id: int) -> BlogStats:
        row = await self._pool.fetchrow(
            """SELECT count(*) AS blogs,
                      count(*) FILTER (WHERE status = 'published') AS published,
                      coalesce(sum(likes_count), 0) AS total_likes
               FROM blogs WHERE author_id = $1""",
            author_id)
        return BlogStats(row["blogs"], row["published"], int(row["total_likes"]))

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

    async def reaction_of(self, blog_id: int, user_id: int) -> Reaction | None:
        kind = await self._pool.fetchval(
            "SELECT kind FROM blog_reactions WHERE blog_id = $1 AND user_id = $2",
            blog_id, user_id)
        return Reaction(kind) if kind is not None else None

    async def reactions_of(self, user_id: int, blog_ids: list[int]) -> dict[int, Reaction]:
        if not blog_ids:
            return {}
        rows = await self._pool.fetch(
            "SELECT blog_id, kind FROM blog_reactions "
            "WHERE user_id = $1 AND blog_id = ANY($2::bigint[])", user_id, blog_ids)
        return {r["blog_id"]: Reaction(r["kind"]) for r in rows}

    async def react(self, blog_id: int, user_id: int, kind: Reaction) -> ReactionCounts:
        try:
            # One statement: a new reaction is inserted, another kind replaces the old one
            # (the WHERE leaves the same kind untouched, so its time stays). The triggers on
            # blog_reactions move the counts within it.
            await self._pool.execute(
                """INSERT INTO blog_reactions AS r (blog_id, user_id, kind) VALUES ($1, $2, $3)
                   ON CONFLICT (blog_id, user_id) DO UPDATE
                   SET kind = EXCLUDED.kind, created_at = EXCLUDED.created_at
                   WHERE r.kind <> EXCLUDED.kind""", blog_id, user_id, kind.value)
        except asyncpg.ForeignKeyViolationError:
            raise NotFoundError("No such blog.", code="blog_not_found") from None
        return await self._counts(blog_id)

    async def unreact(self, blog_id: int, user_id: int,
                      only: Reaction | None = None) -> tuple[ReactionCounts, Reaction | None]:
        removed = await self._pool.fetchval(
            "DELETE FROM blog_reactions WHERE blog_id = $1 AND user_id = $2 "
            "AND ($3::text IS NULL OR kind = $3) RETURNING kind",
            blog_id, user_id, only.value if only is not None else None)
        return await self._counts(blog_id), Reaction(removed) if removed is not None else None

    async def _counts(self, blog_id: int) -> ReactionCounts:
        row = await self._pool.fetchrow(f"SELECT {COUNT_COLUMNS} FROM blogs WHERE id = $1",
                                        blog_id)
        if row is None:
            raise NotFoundError("No such blog.", code="blog_not_found")
        return counts_from_row(row)

    async def reactors(self, blog_id: int, viewer_id: int | None, kind: Reaction | None,
                       offset: int, limit: int) -> list[Reactor]:
        p = Params()
        where = [f"r.blog_id = {p(blog_id)}"]
        if kind is not None:
            where.append(f"r.kind = {p(kind.value)}")
        if viewer_id is not None:
            # Someone on the other side of a block is left out of the list, as everywhere.
            v = p(viewer_id, "::bigint")
            where.append(f"""NOT EXISTS (SELECT 1 FROM blocks k
                WHERE (k.blocker_id = r.user_id AND k.blocked_id = {v})
                   OR (k.blocker_id = {v} AND k.blocked_id = r.user_id))""")
        rows = await self._pool.fetch(
            f"""SELECT r.kind, r.created_at, u.id, u.username::text AS username, u.name,
                       u.avatar_url
                FROM blog_reactions r JOIN users u ON u.id = r.user_id
                WHERE {' AND '.join(where)}
                ORDER BY r.created_at DESC, r.user_id DESC
                OFFSET {p(offset)} LIMIT {p(limit)}""", *p.values)
        return [Reactor(Author(r["id"], r["username"], r["name"], r["avatar_url"]),
                        Reaction(r["kind"]), r["created_at"]) for r in rows]

    async def tags(self, limit: int) -> list[TagCount]:
        # tag_counts is kept by triggers on blogs (schema.sql, step reactions).
        rows = await self._pool.fetch(
            "SELECT tag, n FROM tag_counts ORDER BY n DESC, tag LIMIT $1", limit)
        return [TagCount(r["tag"], r["n"]) for r in rows]

    async def locations(self, prefix: str, limit: int) -> list[Location]:
        # LIKE wildcards in what the user typed are literal characters.
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = await self._pool.fetch(
            """SELECT id, city, country FROM locations
               WHERE city_key LIKE nirvana_fold($1) || '%'
                  OR country_key LIKE nirvana_fold($1) || '%'
               ORDER BY city_key, country_key
               LIMIT $2""",
            pattern, limit)
        return [Location(r["id"], r["city"], r["country"]) for r in rows]
