"""PostgreSQL adapters of the notifications ports (tables of schema step 0005)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable
from datetime import datetime
from typing import TypeVar

import asyncpg

from ...domain.notifications.mail import Contact
from .blog_visibility import READABLE_BY
from ...domain.notifications.entities import (
    MAX_SHOWN_ACTORS,
    MIXED_REACTIONS,
    UNREAD_COUNTED,
    Actor,
    Draft,
    Kind,
    Notification,
    Position,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

# A blog or comment deleted while its notification was being written: its cascade would have
# taken the notification anyway, so there is none to store; any other violation is a bug.
_SUBJECT_GONE = frozenset({"notifications_blog_id_fkey", "notifications_comment_id_fkey"})


async def _unless_subject_gone(draft: Draft, writing: Awaitable[T], gone: T) -> T:
    """What `writing` stored, or `gone` when the draft's blog or comment went first."""
    try:
        return await writing
    except asyncpg.ForeignKeyViolationError as e:
        if e.constraint_name not in _SUBJECT_GONE:
            raise
        log.debug("no %s notification: its blog or comment is gone (%s)", draft.kind.value,
                  e.constraint_name)
        return gone


# The title by a subquery rather than a join, so a page's rows can stream in order (_PAGE).
_COLUMNS = f"""
    n.id, n.recipient_id, n.kind, n.blog_id, n.comment_id, n.text, n.actor_count,
    n.conversation_id, n.created_at, n.updated_at, n.read_at,
    (SELECT title FROM blogs WHERE id = n.blog_id) AS blog_title,
    (SELECT coalesce(jsonb_agg(jsonb_build_array(u.id, u.username::text, u.name)
                               ORDER BY a.at DESC, a.actor_id DESC), '[]')
     FROM (SELECT actor_id, at FROM notification_actors
           WHERE notification_id = n.id ORDER BY at DESC, actor_id DESC
           LIMIT {MAX_SHOWN_ACTORS}) a
     JOIN users u ON u.id = a.actor_id) AS actors"""
_SELECT = f"SELECT {_COLUMNS} FROM notifications n"


# The reading rule (docs/protocol.md, Notifications), on `notifications n`, applied to every
# read of a list and its count, and to what a write hands back to be told live: one about a
# blog is shown while its recipient may read that blog (blog_visibility.py READABLE_BY, the
# rule of GET /api/v1/blog/{id}), and a friend request, an acceptance, a follow or a reaction
# while one of its senders' accounts exists (a deleted one takes its actor rows, and the
# request, friendship, follow or reaction, with it).
# Checked when read rather than withdrawn when the blog changes, so it holds again when the
# blog comes back (shown, audience widened) and cannot lose a race with a fan-out in flight.
# The actor test is a scalar subquery, not EXISTS: PostgreSQL turns an EXISTS under OR into a
# hashed scan of every notification's actors (docs/performance.md, notification reads).
SHOWN = f"""(n.blog_id IS NULL OR EXISTS (
        SELECT 1 FROM blogs b WHERE b.id = n.blog_id
           AND {READABLE_BY.format(v="n.recipient_id")}))
    AND (n.kind NOT IN ('friend_request', 'friend_accepted', 'new_follower', 'blog_liked')
         OR coalesce((
        SELECT true FROM notification_actors na WHERE na.notification_id = n.id LIMIT 1),
        false))"""


# A page: the recipient's rows in order, then the reading rule on them as they stream, until
# the page is full. OFFSET 0 keeps the rule out of the inner scan: pushed down, as the planner
# otherwise does, it runs on every row the recipient holds before the sort (the generic plan
# of a prepared statement does that; docs/performance.md, notification reads).
_PAGE = f"""SELECT {_COLUMNS}
    FROM (SELECT * FROM notifications n WHERE n.recipient_id = $1 {{after}}
          ORDER BY n.updated_at DESC, n.id DESC OFFSET 0) n
    WHERE {SHOWN} ORDER BY n.updated_at DESC, n.id DESC LIMIT {{limit}}"""


# The unread count of one recipient, bounded: the rule stops being checked at the
# UNREAD_COUNTED-th shown row (entities.py), which then stands for that many or more.
_UNREAD = f"""SELECT count(*) FROM (
        SELECT 1 FROM notifications n
        WHERE n.recipient_id = {{recipient}} AND n.read_at IS NULL AND {SHOWN}
        LIMIT {UNREAD_COUNTED}) u"""


def _notification(row: asyncpg.Record) -> Notification:
    return Notification(
        id=row["id"], recipient_id=row["recipient_id"], kind=Kind(row["kind"]),
        actors=tuple(Actor(*a) for a in json.loads(row["actors"])),
        actor_count=row["actor_count"], blog_id=row["blog_id"], blog_title=row["blog_title"],
        comment_id=row["comment_id"], text=row["text"], created_at=row["created_at"],
        updated_at=row["updated_at"], read_at=row["read_at"],
        conversation_id=row["conversation_id"])


def _shown(row: asyncpg.Record | None) -> Notification | None:
    # None: stored, but its reader may not see it now (the blog was hidden meanwhile).
    return None if row is None else _notification(row)


# Takes actors off unread notifications and counts them down, in one statement; the caller
# then deletes those left with none. Each notification's row is locked before its actors',
# the order a deletion's cascade (of the blog, or the account) takes them; the other way
# round, an unlike's withdrawal deadlocked with its blog's deletion. The lock is held to the
# commit, so a concurrent add to the same group waits and then starts a new row if this went.
_TAKE_ACTORS_OFF = """
    WITH own AS (
        SELECT n.id FROM notifications n JOIN notification_actors a ON a.notification_id = n.id
        WHERE n.read_at IS NULL AND ({where})
        ORDER BY n.id FOR NO KEY UPDATE OF n),
    hit AS (
        DELETE FROM notification_actors a USING notifications n
        WHERE a.notification_id = n.id AND n.id IN (SELECT id FROM own) AND ({where})
        RETURNING n.id)
    UPDATE notifications n SET actor_count = n.actor_count - c.k
    FROM (SELECT id, count(*) AS k FROM hit GROUP BY id) c
    WHERE n.id = c.id
    RETURNING n.id, n.recipient_id, n.actor_count"""


# On a repeat in an unread group: reactions of several kinds read "reacted to".
_MERGED_TEXT = f"""CASE WHEN notifications.kind = 'blog_liked'
                        AND notifications.text IS DISTINCT FROM EXCLUDED.text
                       THEN '{MIXED_REACTIONS}' ELSE notifications.text END"""


async def _upsert(conn: asyncpg.Connection, draft: Draft, now: datetime) -> asyncpg.Record:
    """The unread notification of the draft's group, created if there is none: its id, and
    whether it was created now."""
    return await conn.fetchrow(
        f"""INSERT INTO notifications (recipient_id, kind, subject, group_key, blog_id,
                                      comment_id, text, created_at, updated_at,
                                      conversation_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)
           ON CONFLICT (recipient_id, group_key) WHERE read_at IS NULL
           DO UPDATE SET group_key = EXCLUDED.group_key, text = {_MERGED_TEXT}
           RETURNING id, (xmax = 0) AS created""",
        draft.recipient_id, draft.kind.value, draft.subject, draft.group_key,
        draft.blog_id, draft.comment_id, draft.text, now, draft.conversation_id)


class PgNotificationStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def add(self, draft: Draft, now: datetime) -> Notification | None:
        return await _unless_subject_gone(draft, self._add(draft, now), None)

    async def add_actors(self, draft: Draft, actor_ids: list[int],
                         now: datetime) -> Notification | None:
        return await _unless_subject_gone(draft, self._add_actors(draft, actor_ids, now), None)

    async def add_for_each(self, recipient_ids: list[int], draft: Draft,
                           now: datetime) -> list[Notification]:
        return await _unless_subject_gone(
            draft, self._add_for_each(recipient_ids, draft, now), [])

    async def _add(self, draft: Draft, now: datetime) -> Notification | None:
        async with self._pool.acquire() as conn, conn.transaction():
            # On a conflict the no-op update still locks the unread row of the group, so
            # concurrent adds to one group queue here and each adds its actor to one row.
            row = await _upsert(conn, draft, now)
            changed = row["created"]
            if draft.actor_id is not None:
                added = await conn.fetchval(
                    "INSERT INTO notification_actors (notification_id, actor_id, at) "
                    "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING true",
                    row["id"], draft.actor_id, now)
                if added:
                    await conn.execute(
                        "UPDATE notifications SET actor_count = actor_count + 1, "
                        "updated_at = greatest(updated_at, $2) WHERE id = $1", row["id"], now)
                    changed = True
            if not changed:
                return None
            return _shown(await conn.fetchrow(f"{_SELECT} WHERE n.id = $1 AND {SHOWN}",
                                              row["id"]))

    async def _add_actors(self, draft: Draft, actor_ids: list[int],
                          now: datetime) -> Notification | None:
        async with self._pool.acquire() as conn, conn.transaction():
            row = await _upsert(conn, draft, now)
            # Actors deleted since (an account gone) are skipped rather than failing a batch.
            added = await conn.fetchval(
                """WITH new AS (
                       INSERT INTO notification_actors (notification_id, actor_id, at)
                       SELECT $1, a, $3 FROM unnest($2::bigint[]) AS a
                       WHERE EXISTS (SELECT 1 FROM users WHERE id = a)
                       ON CONFLICT DO NOTHING RETURNING 1)
                   SELECT count(*) FROM new""", row["id"], actor_ids, now)
            if added:
                await conn.execute(
                    "UPDATE notifications SET actor_count = actor_count + $3, "
                    "updated_at = greatest(updated_at, $2) WHERE id = $1", row["id"], now,
                    added)
            elif not row["created"]:
                return None
            return _shown(await conn.fetchrow(f"{_SELECT} WHERE n.id = $1 AND {SHOWN}",
                                              row["id"]))

    async def _add_for_each(self, recipient_ids: list[int], draft: Draft,
                            now: datetime) -> list[Notification]:
        if not recipient_ids:
            return []
        async with self._pool.acquire() as conn, conn.transaction():
            ids = await conn.fetch(
                """WITH new AS (
                       INSERT INTO notifications (recipient_id, kind, subject, group_key,
                                                  blog_id, comment_id, text, actor_count,
                                                  created_at, updated_at)
                       SELECT r, $2, $3, $4, $5, $6, $7, ($8::bigint IS NOT NULL)::int, $9, $9
                       FROM unnest($1::bigint[]) AS r
                       ON CONFLICT (recipient_id, group_key) WHERE read_at IS NULL DO NOTHING
                       RETURNING id),
                   actors AS (
                       INSERT INTO notification_actors (notification_id, actor_id, at)
                       SELECT id, $8, $9 FROM new WHERE $8::bigint IS NOT NULL)
                   SELECT id FROM new""",
                recipient_ids, draft.kind.value, draft.subject, draft.group_key, draft.blog_id,
                draft.comment_id, draft.text, draft.actor_id, now)
            rows = await conn.fetch(f"{_SELECT} WHERE n.id = ANY($1::bigint[]) AND {SHOWN}",
                                    [r["id"] for r in ids])
        return [_notification(r) for r in rows]

    async def unread_counts(self, recipient_ids: list[int]) -> dict[int, int]:
        rows = await self._pool.fetch(
            f"SELECT r.id, ({_UNREAD.format(recipient='r.id')}) AS n "
            "FROM unnest($1::bigint[]) AS r(id)", recipient_ids)
        return {r["id"]: r["n"] for r in rows}

    async def _take_off(self, where: str, *args: object) -> list[int]:
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(_TAKE_ACTORS_OFF.format(where=where), *args)
            empty = [r["id"] for r in rows if r["actor_count"] <= 0]
            if empty:
                await conn.execute("DELETE FROM notifications WHERE id = ANY($1::bigint[])",
                                   empty)
        return sorted({r["recipient_id"] for r in rows})

    async def withdraw(self, kind: Kind, subject: str, *, recipient_id: int | None = None,
                       actor_id: int | None = None) -> list[int]:
        if actor_id is not None:
            return await self._take_off(
                "n.kind = $1 AND n.subject = $2 AND ($3::bigint IS NULL OR n.recipient_id = $3)"
                " AND a.actor_id = $4", kind.value, subject, recipient_id, actor_id)
        rows = await self._pool.fetch(
            "DELETE FROM notifications WHERE read_at IS NULL AND kind = $1 AND subject = $2 "
            "AND ($3::bigint IS NULL OR recipient_id = $3) RETURNING recipient_id",
            kind.value, subject, recipient_id)
        return sorted({r["recipient_id"] for r in rows})

    async def withdraw_between(self, a: int, b: int) -> list[int]:
        return await self._take_off(
            "(n.recipient_id = $1 AND a.actor_id = $2) OR (n.recipient_id = $2 AND a.actor_id = $1)",
            a, b)

    async def unread_about_blog(self, blog_id: int) -> list[int]:
        rows = await self._pool.fetch(
            "SELECT DISTINCT recipient_id FROM notifications "
            "WHERE blog_id = $1 AND read_at IS NULL ORDER BY recipient_id", blog_id)
        return [r["recipient_id"] for r in rows]

    async def page(self, recipient_id: int, after: Position | None,
                   limit: int) -> list[Notification]:
        if after is None:
            rows = await self._pool.fetch(_PAGE.format(after="", limit="$2"),
                                          recipient_id, limit)
        else:
            rows = await self._pool.fetch(
                _PAGE.format(after="AND (n.updated_at, n.id) < ($2, $3)", limit="$4"),
                recipient_id, after.updated_at, after.id, limit)
        return [_notification(r) for r in rows]

    async def unread_count(self, recipient_id: int) -> int:
        return await self._pool.fetchval(_UNREAD.format(recipient="$1"), recipient_id)

    async def mark_read(self, recipient_id: int, notification_id: int, now: datetime) -> bool:
        status = await self._pool.execute(
            "UPDATE notifications n SET read_at = coalesce(read_at, $3) "
            f"WHERE n.id = $2 AND n.recipient_id = $1 AND {SHOWN}",
            recipient_id, notification_id, now)
        return status != "UPDATE 0"

    async def mark_all_read(self, recipient_id: int, now: datetime) -> int:
        status = await self._pool.execute(
            "UPDATE notifications n SET read_at = $2 "
            f"WHERE n.recipient_id = $1 AND n.read_at IS NULL AND {SHOWN}", recipient_id, now)
        return int(status.split()[-1])

    async def delete(self, recipient_id: int, notification_id: int) -> bool:
        status = await self._pool.execute(
            f"DELETE FROM notifications n WHERE n.id = $2 AND n.recipient_id = $1 AND {SHOWN}",
            recipient_id, notification_id)
        return status != "DELETE 0"


class PgNotificationAudience:
    """What the notification rules read of the social graph and the users (0001, 0002)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def blocked_either_way(self, a: int, b: int) -> bool:
        return await self._pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM blocks WHERE (blocker_id = $1 AND blocked_id = $2) "
            "OR (blocker_id = $2 AND blocked_id = $1))", a, b)

    async def blocked_among(self, user_id: int, others: list[int]) -> set[int]:
        rows = await self._pool.fetch(
            "SELECT CASE WHEN blocker_id = $1 THEN blocked_id ELSE blocker_id END AS other "
            "FROM blocks WHERE (blocker_id = $1 AND blocked_id = ANY($2::bigint[])) "
            "OR (blocked_id = $1 AND blocker_id = ANY($2::bigint[]))", user_id, others)
        return {r["other"] for r in rows}

    async def followers(self, user_id: int) -> list[int]:
        rows = await self._pool.fetch(
            "SELECT follower_id FROM follows WHERE followee_id = $1", user_id)
        return [r["follower_id"] for r in rows]

    async def may_read(self, author_id: int, audience: str, user_ids: list[int]) -> list[int]:
        # The audience rule of blog_visibility.py IN_AUDIENCE.
        rows = await self._pool.fetch(
            """SELECT u.id FROM unnest($2::bigint[]) AS u(id)
               WHERE EXISTS (SELECT 1 FROM friendships f
                             WHERE f.user_id = u.id AND f.friend_id = $1)
                  OR ($3 = 'followers' AND EXISTS (
                          SELECT 1 FROM follows fo
                          WHERE fo.follower_id = u.id AND fo.followee_id = $1))""",
            author_id, user_ids, audience)
        return [r["id"] for r in rows]

    async def can_read_blog(self, user_id: int, blog_id: int) -> bool:
        # The rule of reading the blog (blog_visibility.py READABLE_BY), the one `SHOWN`
        # applies: a mention on a blog its reader may not read is neither stored nor mailed.
        return await self._pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM blogs b WHERE b.id = $1 AND "
            f"{READABLE_BY.format(v='$2::bigint')})", blog_id, user_id)

    async def user_ids(self, usernames: list[str]) -> dict[str, int]:
        rows = await self._pool.fetch(
            "SELECT lower(username::text) AS name, id FROM users "
            "WHERE username = ANY($1::citext[])", usernames)
        return {r["name"]: r["id"] for r in rows}


class PgContacts:
    """Who a notification mail goes to, and the names it says (0001, 0003)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def contacts(self, user_ids: list[int]) -> dict[int, Contact]:
        rows = await self._pool.fetch(
            "SELECT id, email::text AS email, name, username::text AS username FROM users "
            "WHERE id = ANY($1::bigint[])", user_ids)
        return {r["id"]: Contact(r["id"], r["email"], r["name"] or r["username"],
                                 r["username"]) for r in rows}

    async def blog_title(self, blog_id: int) -> str | None:
        return await self._pool.fetchval("SELECT title FROM blogs WHERE id = $1", blog_id)
