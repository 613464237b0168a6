"""PostgreSQL adapter of `ChatPeers`: reads the social-graph tables (schema step 0002).

Chat reads these tables itself rather than calling the social module, so the two can
change independently; the tables are the contract.
"""

from __future__ import annotations

from typing import Sequence

import asyncpg

from ...domain.chat.entities import Peer, PeerRelation


class PgChatPeers:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def relation(self, a: int, b: int) -> PeerRelation:
        row = await self._pool.fetchrow(
            "SELECT EXISTS (SELECT 1 FROM blocks WHERE (blocker_id = $1 AND blocked_id = $2) "
            "OR (blocker_id = $2 AND blocked_id = $1)) AS blocked, "
            "EXISTS (SELECT 1 FROM friendships WHERE user_id = $1 AND friend_id = $2) "
            "AS friends", a, b)
        if row["blocked"]:
            return PeerRelation.BLOCKED
        return PeerRelation.FRIENDS if row["friends"] else PeerRelation.NONE

    async def are_friends(self, a: int, b: int) -> bool:
        return bool(await self._pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM friendships WHERE user_id = $1 AND friend_id = $2)",
            a, b))

    async def is_blocked_either_way(self, a: int, b: int) -> bool:
        return bool(await self._pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM blocks WHERE (blocker_id = $1 AND blocked_id = $2) "
            "OR (blocker_id = $2 AND blocked_id = $1))", a, b))

    async def friend_ids(self, user_id: int) -> set[int]:
        rows = await self._pool.fetch(
            "SELECT friend_id FROM friendships WHERE user_id = $1", user_id)
        return {r["friend_id"] for r in rows}

    async def blocked_with(self, user_id: int, others: Sequence[int]) -> set[int]:
        rows = await self._pool.fetch(
            "SELECT blocked_id AS other FROM blocks WHERE blocker_id = $1 "
            "AND blocked_id = ANY($2::bigint[]) UNION "
            "SELECT blocker_id FROM blocks WHERE blocked_id = $1 "
            "AND blocker_id = ANY($2::bigint[])", user_id, list(others))
        return {r["other"] for r in rows}

    async def any_block_among(self, user_ids: Sequence[int]) -> bool:
        return await self._pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM blocks WHERE blocker_id = ANY($1::bigint[]) "
            "AND blocked_id = ANY($1::bigint[]))", list(user_ids))

    async def friends(self, user_id: int) -> list[Peer]:
        rows = await self._pool.fetch(
            "SELECT u.id, u.name, u.username::text AS username, u.avatar_url, u.status "
            "FROM friendships f JOIN users u ON u.id = f.friend_id "
            "WHERE f.user_id = $1 AND NOT EXISTS (SELECT 1 FROM blocks b WHERE "
            "(b.blocker_id = $1 AND b.blocked_id = u.id) OR "
            "(b.blocker_id = u.id AND b.blocked_id = $1)) ORDER BY u.name, u.id", user_id)
        return [Peer(r["id"], r["name"], r["username"], r["avatar_url"], r["status"])
                for r in rows]
