"""PostgreSQL adapter of the social graph (tables of schema steps 0002 and 0004)."""

from __future__ import annotations

import contextlib
from typing import AsyncIterator, Collection

import asyncpg

from ...domain.errors import NotFoundError
from ...domain.social.entities import (
    Counts,
    Direction,
    Linked,
    PageRequest,
    PairState,
    Person,
    PublicUser,
)
from .blog_visibility import Params, visible_to

PERSON = "u.id, u.username::text AS username, u.name, u.avatar_url"

PAIR_STATE = """
SELECT EXISTS (SELECT 1 FROM friendships WHERE user_id = $1 AND friend_id = $2) AS friends,
       EXISTS (SELECT 1 FROM friend_requests WHERE from_user = $1 AND to_user = $2) AS requested,
       EXISTS (SELECT 1 FROM friend_requests WHERE from_user = $2 AND to_user = $1)
           AS requested_by,
       EXISTS (SELECT 1 FROM follows WHERE follower_id = $1 AND followee_id = $2) AS follows,
       EXISTS (SELECT 1 FROM follows WHERE follower_id = $2 AND followee_id = $1) AS followed_by,
       EXISTS (SELECT 1 FROM blocks WHERE blocker_id = $1 AND blocked_id = $2) AS blocks,
       EXISTS (SELECT 1 FROM blocks WHERE blocker_id = $2 AND blocked_id = $1) AS blocked_by
"""

# One keyset-paginated list per link table: (table, owner column, other column).
_LISTS = {
    "friends": ("friendships", "user_id", "friend_id"),
    "followers": ("follows", "followee_id", "follower_id"),
    "following": ("follows", "follower_id", "followee_id"),
    "incoming": ("friend_requests", "to_user", "from_user"),
    "outgoing": ("friend_requests", "from_user", "to_user"),
    "blocked": ("blocks", "blocker_id", "blocked_id"),
}

# Ranked: exact match, then prefix (of the username, the name or a word of the name), then
# substring, then fuzzy (trigram similarity); ties by closeness, then id for a stable order.
# Every WHERE branch is served by the trigram GIN indexes of step 0004.
SEARCH = f"""
SELECT {PERSON},
       CASE WHEN social_fold(u.username::text) = $1 OR social_fold(u.name) = $1 THEN 0
            WHEN social_fold(u.username::text) LIKE $3 OR social_fold(u.name) LIKE $3
              OR social_fold(u.name) LIKE $4 THEN 1
            WHEN social_fold(u.username::text) LIKE $2 OR social_fold(u.name) LIKE $2 THEN 2
            ELSE 3 END AS tier,
       greatest(similarity(social_fold(u.username::text), $1),
                word_similarity($1, social_fold(u.name))) AS closeness
FROM users u
WHERE (social_fold(u.username::text) LIKE $2
       OR social_fold(u.name) LIKE $2
       OR social_fold(u.username::text) % $1
       OR $1 <% social_fold(u.name))
  AND NOT EXISTS (SELECT 1 FROM blocks b
                  WHERE (b.blocker_id = u.id AND b.blocked_id = $5)
                     OR (b.blocker_id = $5 AND b.blocked_id = u.id))
ORDER BY tier, closeness DESC, u.id
LIMIT $6 OFFSET $7
"""


def _person(row: asyncpg.Record) -> Person:
    return Person(row["id"], row["username"], row["name"], row["avatar_url"])


def _pair_state(row: asyncpg.Record) -> PairState:
    return PairState(**{k: row[k] for k in PairState.__dataclass_fields__})


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _pair_lock_key(a: int, b: int) -> int:
    # One advisory-lock key per unordered pair. Ids above 2**32 may share a key with another
    # pair; that only serialises two unrelated pairs, it never lets one pair race itself.
    lo, hi = min(a, b) & 0xFFFFFFFF, max(a, b) & 0xFFFFFFFF
    key = (lo << 32) | hi
    return key - (1 << 64) if key >= 1 << 63 else key


class PgPairTransaction:
    def __init__(self, conn: asyncpg.Connection, a: int, b: int) -> None:
        self._conn = conn
        self._a = a
        self._b = b

    async def _write(self, sql: str, *args: object) -> None:
        try:
            await self._conn.execute(sql, *args)
        except asyncpg.ForeignKeyViolationError:
            raise NotFoundError("No such user.", code="user_not_found") from None

    async def state(self) -> PairState:
        return _pair_state(await self._conn.fetchrow(PAIR_STATE, self._a, self._b))

    async def add_request(self, from_user: int, to_user: int) -> None:
        await self._write(
            "INSERT INTO friend_requests (from_user, to_user) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING", from_user, to_user)

    async def remove_request(self, from_user: int, to_user: int) -> None:
        await self._conn.execute(
            "DELETE FROM friend_requests WHERE from_user = $1 AND to_user = $2",
            from_user, to_user)

    async def befriend(self) -> None:
        await self._write(
            "INSERT INTO friendships (user_id, friend_id) VALUES ($1, $2), ($2, $1) "
            "ON CONFLICT DO NOTHING", self._a, self._b)

    async def unfriend(self) -> None:
        await self._conn.execute(
            "DELETE FROM friendships WHERE (user_id = $1 AND friend_id = $2) "
            "OR (user_id = $2 AND friend_id = $1)", self._a, self._b)

    async def add_follow(self, follower: int, followee: int) -> None:
        await self._write(
            "INSERT INTO follows (follower_id, followee_id) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING", follower, followee)

    async def remove_follow(self, follower: int, followee: int) -> None:
        await self._conn.execute(
            "DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2", follower, followee)

    async def add_block(self, blocker: int, blocked: int) -> None:
        await self._write(
            "INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING", blocker, blocked)

    async def remove_block(self, blocker: int, blocked: int) -> None:
        await self._conn.execute(
            "DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2", blocker, blocked)


class PgSocialRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @contextlib.asynccontextmanager
    async def pair(self, a: int, b: int) -> AsyncIterator[PgPairTransaction]:
        async with self._pool.acquire() as conn, conn.transaction():
            # Released at commit or rollback, so it cannot leak past the transaction.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _pair_lock_key(a, b))
            yield PgPairTransaction(conn, a, b)

    async def pair_state(self, a: int, b: int) -> PairState:
        return _pair_state(await self._pool.fetchrow(PAIR_STATE, a, b))

    async def public_user(self, user_id: int) -> PublicUser | None:
        row = await self._pool.fetchrow(
            f"SELECT {PERSON}, u.about, u.status, u.created_at FROM users u WHERE u.id = $1",
            user_id)
        if row is None:
            return None
        return PublicUser(_person(row), row["about"], row["status"], row["created_at"])

    async def user_id_by_username(self, username: str) -> int | None:
        # users.username is citext: its unique index answers this without case.
        return await self._pool.fetchval("SELECT id FROM users WHERE username = $1", username)

    async def user_exists(self, user_id: int) -> bool:
        return await self._pool.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)",
                                         user_id)

    async def counts(self, user_id: int) -> Counts:
        row = await self._pool.fetchrow(
            """SELECT (SELECT count(*) FROM follows WHERE followee_id = $1) AS followers,
                      (SELECT count(*) FROM follows WHERE follower_id = $1) AS following,
                      (SELECT count(*) FROM friendships WHERE user_id = $1) AS friends""",
            user_id)
        return Counts(0, row["followers"], row["following"], row["friends"])

    async def _list(self, which: str, user_id: int, page: PageRequest) -> list[Linked]:
        table, owner, other = _LISTS[which]
        after_ts, after_id = page.after if page.after else (None, None)
        rows = await self._pool.fetch(
            f"""SELECT {PERSON}, l.created_at AS since FROM {table} l
                JOIN users u ON u.id = l.{other}
                WHERE l.{owner} = $1
                  AND ($2::timestamptz IS NULL OR (l.created_at, l.{other}) < ($2, $3))
                ORDER BY l.created_at DESC, l.{other} DESC
                LIMIT $4""",
            user_id, after_ts, after_id, page.limit)
        return [Linked(_person(r), r["since"]) for r in rows]

    async def friends(self, user_id: int, page: PageRequest) -> list[Linked]:
        return await self._list("friends", user_id, page)

    async def followers(self, user_id: int, page: PageRequest) -> list[Linked]:
        return await self._list("followers", user_id, page)

    async def following(self, user_id: int, page: PageRequest) -> list[Linked]:
        return await self._list("following", user_id, page)

    async def requests(
        self, user_id: int, direction: Direction, page: PageRequest
    ) -> list[Linked]:
        return await self._list(direction.value, user_id, page)

    async def blocked(self, user_id: int, page: PageRequest) -> list[Linked]:
        return await self._list("blocked", user_id, page)

    async def search(
        self, query: str, viewer: int | None, limit: int, offset: int
    ) -> list[Person]:
        # Folded (lower case, no accents) by the same SQL function the indexes use, so the
        # LIKE patterns below are plain constants the planner can match against the indexes.
        folded = await self._pool.fetchval("SELECT social_fold($1)", query)
        escaped = _like_escape(folded)
        rows = await self._pool.fetch(
            SEARCH, folded, f"%{escaped}%", f"{escaped}%", f"% {escaped}%",
            viewer if viewer is not None else 0, limit, offset)
        return [_person(r) for r in rows]

    async def are_friends(self, a: int, b: int) -> bool:
        return await self._pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM friendships WHERE user_id = $1 AND friend_id = $2)",
            a, b)

    async def is_blocked_either_way(self, a: int, b: int) -> bool:
        return await self._pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM blocks WHERE (blocker_id = $1 AND blocked_id = $2) "
            "OR (blocker_id = $2 AND blocked_id = $1))", a, b)

    async def blockers_among(self, user_id: int, others: Collection[int]) -> set[int]:
        rows = await self._pool.fetch(
            "SELECT blocker_id FROM blocks WHERE blocked_id = $1 "
            "AND blocker_id = ANY($2::bigint[])", user_id, list(others))
        return {r["blocker_id"] for r in rows}

    async def friend_ids(self, user_id: int) -> list[int]:
        rows = await self._pool.fetch(
            "SELECT friend_id FROM friendships WHERE user_id = $1 ORDER BY friend_id", user_id)
        return [r["friend_id"] for r in rows]

    async def followee_ids(self, user_id: int) -> list[int]:
        rows = await self._pool.fetch(
            "SELECT followee_id FROM follows WHERE follower_id = $1 ORDER BY followee_id",
            user_id)
        return [r["followee_id"] for r in rows]


class PgPublishedBlogCounter:
    """Counts a user's published blogs as a reader sees them: the same condition as every
    list read (`visible_to`), over the author's published blogs (blogs_author_published_idx)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def published_blog_count(self, user_id: int, viewer: int | None) -> int:
        p = Params()
        where = [f"b.author_id = {p(user_id, '::bigint')}", *visible_to(viewer, p)]
        return await self._pool.fetchval(
            f"SELECT count(*) FROM blogs b WHERE {' AND '.join(where)}", *p.values)
