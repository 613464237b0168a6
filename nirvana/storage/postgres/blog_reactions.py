"""Reactions on blogs in PostgreSQL: one row per reader and blog in `blog_reactions`, whose
triggers keep the blog's counts (schema.sql, step reactions); and who reacted."""

from __future__ import annotations

import asyncpg

from ...domain.blogs.authors import Author
from ...domain.blogs.reactions import Reaction, ReactionCounts, Reactor
from ...domain.errors import NotFoundError
from .blog_rows import COUNT_COLUMNS, counts_from_row
from .blog_visibility import Params


# The blog's row, locked before an existing reaction's, by the statements that lock one
# (a change of kind, a removal): a blog's deletion locks the blog, then the reactions by its
# cascade, and the count triggers lock the blog after the reaction they change, so such a
# write without this would deadlock with the deletion. The same lock the trigger takes
# anyway, in the same statement: it only comes first. (The scan of blog_reactions needs the
# blog's id from it before it can reach, and lock, a row.) A new reaction's insert needs not,
# its row being invisible to the cascade.
BLOG_FIRST = "blog AS (SELECT id FROM blogs WHERE id = $1 FOR NO KEY UPDATE)"


class PgBlogReactions:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

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
            for _ in range(2):
                # A first reaction is inserted alone: DO NOTHING locks no existing row, so it
                # needs no BLOG_FIRST, whose lock ahead of the insert's foreign key on the
                # user's row would cycle with that account's deletion (user, then blog).
                inserted = await self._pool.execute(
                    "INSERT INTO blog_reactions (blog_id, user_id, kind) VALUES ($1, $2, $3) "
                    "ON CONFLICT (blog_id, user_id) DO NOTHING", blog_id, user_id, kind.value)
                if inserted == "INSERT 0 1":
                    break
                # A reaction there already: another kind replaces it (the same kind is left
                # untouched, so its time stays), the blog's row locked first (BLOG_FIRST);
                # the triggers on blog_reactions move the counts within the statement. An
                # update, never an insert, under BLOG_FIRST, for the cycle above.
                updated = await self._pool.execute(
                    f"""WITH {BLOG_FIRST}
                       UPDATE blog_reactions SET kind = $3, created_at = now()
                       WHERE blog_id = (SELECT id FROM blog) AND user_id = $2
                         AND kind <> $3""", blog_id, user_id, kind.value)
                if updated != "UPDATE 0" or await self.reaction_of(blog_id, user_id):
                    break
                # The reaction went between the two (an unlike elsewhere, or the blog's
                # deletion): insert again, which a blog gone refuses.
        except asyncpg.ForeignKeyViolationError:
            raise NotFoundError("No such blog.", code="blog_not_found") from None
        return await self._counts(blog_id)

    async def unreact(self, blog_id: int, user_id: int,
                      only: Reaction | None = None) -> tuple[ReactionCounts, Reaction | None]:
        removed = await self._pool.fetchval(
            f"WITH {BLOG_FIRST} DELETE FROM blog_reactions "
            "WHERE blog_id = (SELECT id FROM blog) AND user_id = $2 "
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
