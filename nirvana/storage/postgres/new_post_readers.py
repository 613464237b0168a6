"""PostgreSQL adapter of `NewPostReaders` (domain/blogs/live.py): who among the online users
is told live of an author's new blog (follows, friendships and blocks of step 0002)."""

from __future__ import annotations

import asyncpg

from ...domain.blogs.model import Audience


class PgNewPostReaders:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def readers(self, author_id: int, audience: Audience,
                      among: list[int]) -> list[int]:
        # The audience rule of blog_visibility.py IN_AUDIENCE, for the people whose
        # following feed holds the author: friends read every audience, followers all but
        # 'friends'.
        rows = await self._pool.fetch(
            """SELECT u.id FROM unnest($2::bigint[]) AS u(id)
               WHERE (EXISTS (SELECT 1 FROM friendships f
                              WHERE f.user_id = u.id AND f.friend_id = $1)
                      OR ($3 <> 'friends' AND EXISTS (
                              SELECT 1 FROM follows fo
                              WHERE fo.follower_id = u.id AND fo.followee_id = $1)))
                 AND NOT EXISTS (SELECT 1 FROM blocks k
                                 WHERE (k.blocker_id = $1 AND k.blocked_id = u.id)
                                    OR (k.blocker_id = u.id AND k.blocked_id = $1))""",
            author_id, among, audience.value)
        return [r["id"] for r in rows]
