"""Searching blogs in PostgreSQL: the search terms as conditions (`matching`), the search of
one query, and the ranked candidates the search answers kept in memory are built from
(domain/blogs/search.py): the public matches, and a signed-in reader's own."""

from __future__ import annotations

import asyncpg

from ...domain.blogs.model import Blog, BlogFilter
from ...domain.blogs.search import SEARCH_CANDIDATES, Candidate
from .blog_rows import BLOG_COLUMNS, BLOG_FROM, NEWEST_FIRST, blog_from_row
from .blog_visibility import CIRCLE_ARRAYS, Params, visible_to


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


class PgBlogSearch:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

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
            f"""WITH c AS ({CIRCLE_ARRAYS.format(v=v)}),
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
