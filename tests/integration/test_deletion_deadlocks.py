"""An account deleted while another transaction writes the account's rows, on the real
PostgreSQL: every such writer locks the user's row before the child rows the deletion's
cascade deletes (storage/postgres/password_guard.py), so one of them waits for the other and
neither deadlocks. A writer that broke that order would make the deletion the deadlock's
victim: it goes again, once."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Coroutine
from datetime import datetime, timedelta, timezone

import pytest

from nirvana.domain.accounts.sessions import hash_token
from nirvana.domain.blogs.reactions import Reaction
from nirvana.domain.errors import NotFoundError
from nirvana.storage.postgres.accounts import PgRefreshTokenStore, PgUserRepository
from nirvana.storage.postgres.blog_comments import PgCommentRepository
from nirvana.storage.postgres.blogs import PgBlogRepository
from nirvana.storage.postgres.sessions import PgSessionStore
from nirvana.storage.postgres.two_factor import PgTwoFactorStore
from tests.support.http import bearer, sign_up
from tests.support.pg_races import WAIT, deadlock_victims_pool, waiting_on_locks

pytestmark = pytest.mark.anyio
RETRIED = "deadlocked; retrying once"


async def signed_up(client, pool) -> tuple[int, str, uuid.UUID]:
    """A new user's id, stored hash and the session its sign-up started."""
    uid = (await sign_up(client))["user"]["id"]
    row = await pool.fetchrow(
        "SELECT c.password_hash, s.id FROM credentials c JOIN sessions s USING (user_id) "
        "WHERE c.user_id = $1", uid)
    return uid, row["password_hash"], row["id"]


async def left_of(pool, uid: int) -> int:
    return await pool.fetchval(
        "SELECT (SELECT count(*) FROM users WHERE id = $1) "
        "+ (SELECT count(*) FROM sessions WHERE user_id = $1) "
        "+ (SELECT count(*) FROM refresh_tokens WHERE user_id = $1)", uid)


async def deleted_while(pool, caplog, uid: int, password_hash: str,
                        blocking: list[tuple], writing: Coroutine) -> object:
    """What `writing` returns when it is held by `blocking` (another transaction's
    statements, uncommitted) past its first locks, while the account is deleted; then the
    blocker rolls back. Neither deadlocks, and the account is gone, with its rows."""
    caplog.set_level(logging.WARNING, "nirvana.storage")
    async with pool.acquire() as blocker:
        transaction = blocker.transaction()
        await transaction.start()
        for statement in blocking:
            await blocker.execute(*statement)
        writer = asyncio.create_task(writing)
        await waiting_on_locks(pool, writer, blocker.get_server_pid())
        deleting = asyncio.create_task(PgUserRepository(pool).delete(
            uid, datetime.now(timezone.utc), password_hash))
        await waiting_on_locks(pool, deleting, blocker.get_server_pid(), count=2)
        await transaction.rollback()
    written = await asyncio.wait_for(writer, WAIT)  # not DeadlockDetectedError
    assert await asyncio.wait_for(deleting, WAIT) is True
    assert RETRIED not in caplog.text  # nor the deletion chosen as the victim
    assert await left_of(pool, uid) == 0
    return written


async def test_an_account_deleted_while_a_refresh_rotates_its_token_waits_for_it(
        client, stores, caplog):
    """The rotation is held at its INSERT of the next token, past its lock of the session's
    row. It deadlocked when it took the session's row first: the deletion's cascade waited
    on it, and the INSERT's foreign key on the deletion's lock of the user's row."""
    pool, _ = stores
    uid, password_hash, family = await signed_up(client, pool)
    other = (await sign_up(client))["user"]["id"]
    token = hash_token("the rotation's next token")
    later = datetime.now(timezone.utc) + timedelta(days=1)
    # An uncommitted token of ANOTHER user with the rotation's hash holds the rotation at
    # its INSERT (one of the same user would lock the user's row itself).
    blocking = [("INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at) "
                 "VALUES ($1, $2, $3, $4)", token, uuid.uuid4(), other, later)]
    rotated = await deleted_while(pool, caplog, uid, password_hash, blocking, PgSessionStore(
        pool).rotate(str(family), uid, token, later, datetime.now(timezone.utc)))
    assert rotated is True


async def test_an_account_deleted_while_two_factor_is_turned_on_waits_for_it(
        client, stores, caplog):
    """Turning it on is held at its replacement of the recovery codes, past its lock of the
    two_factor row, which the deletion's cascade waited on, while the codes' INSERT waited
    on the deletion's lock of the user's row."""
    pool, _ = stores
    uid, password_hash, _ = await signed_up(client, pool)
    await pool.execute("INSERT INTO two_factor (user_id, secret, created_at) "
                       "VALUES ($1, 'S', now())", uid)
    await pool.execute("INSERT INTO two_factor_recovery_codes (user_id, code_hash) "
                       "VALUES ($1, 'old')", uid)
    blocking = [("SELECT 1 FROM two_factor_recovery_codes WHERE user_id = $1 FOR UPDATE", uid)]
    enabled = await deleted_while(pool, caplog, uid, password_hash, blocking, PgTwoFactorStore(
        pool).enable(uid, "S", 1, [b"new"], datetime.now(timezone.utc)))
    assert enabled is True


async def test_an_account_deleted_while_its_sessions_are_revoked_waits_for_it(
        client, stores, caplog):
    """The revocation is held at the last of the sessions' rows it locks, past the first.
    It deadlocked when it took them first: the deletion's cascade, past the tokens, waited
    on them, and the revocation's UPDATE on the tokens the deletion deleted."""
    pool, _ = stores
    uid, password_hash, _ = await signed_up(client, pool)
    last = uuid.UUID(int=2 ** 128 - 1)  # after the sign-up's session, in the lock order
    await pool.execute("INSERT INTO sessions (id, user_id) VALUES ($1, $2)", last, uid)
    blocking = [("SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE", last)]
    revoked = await deleted_while(pool, caplog, uid, password_hash, blocking,
                                  PgRefreshTokenStore(pool).revoke_user(
                                      uid, datetime.now(timezone.utc)))
    assert len(revoked) == 1


async def test_a_deletion_chosen_as_a_deadlocks_victim_goes_again(client, stores,
                                                                   server_urls, caplog):
    """A writer in the wrong order (the session's row, then a token whose foreign key
    waits on the user's row) against the deletion: PostgreSQL ends the deletion, which
    goes again once the writer is done, and deletes what it wrote."""
    pool, _ = stores
    uid, password_hash, family = await signed_up(client, pool)
    later = datetime.now(timezone.utc) + timedelta(days=1)
    caplog.set_level(logging.WARNING, "nirvana.storage")
    async with deadlock_victims_pool(server_urls[0]) as victims, pool.acquire() as writer:
        transaction = writer.transaction()
        await transaction.start()
        # The deletion (on `victims`) finds the cycle first: the victim.
        await writer.execute("SET LOCAL deadlock_timeout = '60s'")
        await writer.execute("UPDATE sessions SET last_used_at = now() WHERE id = $1", family)
        deleting = asyncio.create_task(PgUserRepository(victims).delete(
            uid, datetime.now(timezone.utc), password_hash))
        await waiting_on_locks(pool, deleting, writer.get_server_pid())
        await asyncio.wait_for(writer.execute(
            "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at) "
            "VALUES ($1, $2, $3, $4)", hash_token("wrong order"), family, uid, later), WAIT)
        await transaction.commit()
        assert await asyncio.wait_for(deleting, WAIT) is True
    assert RETRIED in caplog.text
    assert await left_of(pool, uid) == 0


async def commented_blog(client, pool, uid: int) -> tuple[int, int]:
    """Another user's blog with a comment and a like by `uid`: the blog's id, the comment's."""
    owner = await sign_up(client)
    r = await client.post("/api/v1/blog", headers=bearer(owner), json={"title": "T", "body": "b"})
    blog_id = r.json()["id"]
    comment, _ = await PgCommentRepository(pool).add(blog_id, uid, "c",
                                                     datetime.now(timezone.utc))
    await PgBlogRepository(pool).react(blog_id, uid, Reaction.LIKE)
    return blog_id, comment.id


@pytest.mark.parametrize("deleting", ["the comment", "the blog"])
async def test_an_account_deleted_while_a_blog_it_commented_on_is_written_waits_for_it(
        client, stores, caplog, deleting):
    """The blog's owner deletes the user's comment, or the whole blog, held at its lock of
    the blog's row. The account's deletion locks the blogs it touches before its cascade:
    that cascade took the comment, then the blog's row (the count trigger), the other way
    round from both, and deadlocked with them (the comment's case only once the comment's
    deletion locks the blog first: this guards the account's side of that order)."""
    pool, _ = stores
    uid, password_hash, _ = await signed_up(client, pool)
    blog_id, comment_id = await commented_blog(client, pool, uid)
    blocking = [("SELECT 1 FROM blogs WHERE id = $1 FOR NO KEY UPDATE", blog_id)]
    writing = (PgCommentRepository(pool).delete(comment_id) if deleting == "the comment"
               else PgBlogRepository(pool).delete(blog_id))
    await deleted_while(pool, caplog, uid, password_hash, blocking, writing)
    assert await pool.fetchval("SELECT count(*) FROM blog_comments WHERE id = $1",
                               comment_id) == 0
    assert await pool.fetchval("SELECT likes_count + comments_count FROM blogs WHERE id = $1",
                               blog_id) in (0, None)


async def test_a_first_like_of_a_blog_commented_on_while_the_account_is_deleted_waits_for_it(
        client, stores, caplog):
    """The account's deletion is held past its lock of the user's row (an uncommitted
    tombstone of the same id), then the user's first like of a blog they commented on queues
    behind it. The like locked the blog's row before its insert, whose foreign key waited on
    the user's row, while the deletion waited on that lock of the blog: a deadlock whose
    victim was the like (it waited first), a 500. The deletion goes first; the like's
    foreign key then finds its user gone, answered 404 as before the lock order."""
    caplog.set_level(logging.WARNING, "nirvana.storage")
    pool, _ = stores
    uid, password_hash, _ = await signed_up(client, pool)
    owner = await sign_up(client)
    r = await client.post("/api/v1/blog", headers=bearer(owner), json={"title": "T", "body": "b"})
    blog_id = r.json()["id"]
    await PgCommentRepository(pool).add(blog_id, uid, "c", datetime.now(timezone.utc))
    async with pool.acquire() as blocker:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("INSERT INTO deleted_users (id, deleted_at) VALUES ($1, now())",
                              uid)
        deleting = asyncio.create_task(PgUserRepository(pool).delete(
            uid, datetime.now(timezone.utc), password_hash))
        await waiting_on_locks(pool, deleting, blocker.get_server_pid())
        liking = asyncio.create_task(PgBlogRepository(pool).react(blog_id, uid, Reaction.LIKE))
        await waiting_on_locks(pool, liking, blocker.get_server_pid(), count=2)
        await transaction.rollback()
    assert await asyncio.wait_for(deleting, WAIT) is True
    with pytest.raises(NotFoundError) as answer:  # not DeadlockDetectedError
        await asyncio.wait_for(liking, WAIT)
    assert answer.value.code == "blog_not_found"
    assert RETRIED not in caplog.text
    assert await left_of(pool, uid) == 0
    assert await pool.fetchval("SELECT likes_count + comments_count FROM blogs WHERE id = $1",
                               blog_id) == 0
