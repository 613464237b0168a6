"""A blog deleted while its comments or reactions are written, on the real PostgreSQL:
every writer that locks an existing comment or reaction locks the blog's row before it
(blog_comments.py, blog_reactions.py), the order the blog's deletion takes them by its
cascade, so one waits for the other and neither deadlocks (it did: the count triggers took
the blog's row after the child's); an unlike's withdrawal of its notification locks the
notification before its actors, as the cascade does. And a notification about a blog or
comment gone meanwhile is not stored, quietly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import datetime, timezone

import asyncpg
import pytest

from nirvana.domain.blogs.reactions import Reaction, ReactionCounts
from nirvana.domain.errors import NotFoundError
from nirvana.domain.notifications.entities import Draft, Kind
from nirvana.storage.postgres.blog_comments import PgCommentRepository
from nirvana.storage.postgres.blogs import PgBlogRepository
from nirvana.storage.postgres.notifications import PgNotificationStore
from tests.support.http import bearer, sign_up
from tests.support.pg_races import WAIT, waiting_on_locks

pytestmark = pytest.mark.anyio


async def blog_with_comment(client) -> tuple[dict, dict, int, int]:
    """Ann's blog with a comment and a like by Bob: Ann, Bob, the blog's id, the comment's."""
    ann, bob = await sign_up(client), await sign_up(client)
    r = await client.post("/api/v1/blog", headers=bearer(ann), json={"title": "T", "body": "b"})
    blog_id = r.json()["id"]
    r = await client.post(f"/api/v1/blog/{blog_id}/comments", headers=bearer(bob),
                          json={"body": "a comment"})
    assert r.status_code == 201, r.text
    comment_id = r.json()["id"]
    r = await client.post(f"/api/v1/blog/{blog_id}/like", headers=bearer(bob))
    assert r.status_code == 200, r.text
    return ann, bob, blog_id, comment_id


async def deleted_while(pool, blog_id: int, writing: Coroutine,
                        held: tuple | None = None) -> object:
    """What `writing` returns (or raises) when the blog's deletion is queued ahead of it,
    both held by another transaction's lock of a row (by default the blog's, as a like's
    count being moved); then that transaction ends. The blog is gone, with its children."""
    async with pool.acquire() as liker:
        transaction = liker.transaction()
        await transaction.start()
        await liker.execute(*(held or ("SELECT 1 FROM blogs WHERE id = $1 FOR NO KEY UPDATE",
                                       blog_id)))
        deleting = asyncio.create_task(PgBlogRepository(pool).delete(blog_id))
        await waiting_on_locks(pool, deleting, liker.get_server_pid())
        writer = asyncio.create_task(writing)
        await waiting_on_locks(pool, writer, liker.get_server_pid(), count=2)
        await transaction.rollback()
    await asyncio.wait_for(deleting, WAIT)  # not DeadlockDetectedError
    finished, _ = await asyncio.wait([writer], timeout=WAIT)
    assert finished, "the writer did not finish"
    assert await pool.fetchval(
        "SELECT (SELECT count(*) FROM blogs WHERE id = $1)"
        " + (SELECT count(*) FROM blog_comments WHERE blog_id = $1)"
        " + (SELECT count(*) FROM blog_reactions WHERE blog_id = $1)", blog_id) == 0
    return writer.exception() or writer.result()


async def test_a_comment_deleted_with_its_blog_is_gone_without_a_deadlock(client, stores):
    """The comment's deletion, held at its lock of the blog's row behind the blog's deletion,
    finds the comment gone. It deadlocked when it locked and deleted the comment first, then
    waited on the blog's row (the count trigger) while the cascade waited on the comment."""
    pool, _ = stores
    _, _, blog_id, comment_id = await blog_with_comment(client)
    outcome = await deleted_while(pool, blog_id, PgCommentRepository(pool).delete(comment_id))
    assert outcome == []  # nobody's unread count changed by this deletion


@pytest.mark.parametrize("only", [None, Reaction.LIKE])
async def test_a_reaction_taken_back_from_a_blog_being_deleted_finds_it_gone(
        client, stores, only):
    """Unreacting (and unliking) deleted the reaction, then waited on the blog's row."""
    pool, _ = stores
    _, bob, blog_id, _ = await blog_with_comment(client)
    outcome = await deleted_while(pool, blog_id, PgBlogRepository(pool).unreact(
        blog_id, bob["user"]["id"], only))
    assert isinstance(outcome, NotFoundError) and outcome.code == "blog_not_found"


async def test_a_reaction_changed_on_a_blog_being_deleted_finds_it_gone(client, stores):
    """Another kind replacing a reaction locked the reaction first (ON CONFLICT DO UPDATE),
    then waited on the blog's row (the count trigger) while the cascade waited on it."""
    pool, _ = stores
    _, bob, blog_id, _ = await blog_with_comment(client)
    outcome = await deleted_while(pool, blog_id, PgBlogRepository(pool).react(
        blog_id, bob["user"]["id"], Reaction.LOVE))
    assert isinstance(outcome, NotFoundError) and outcome.code == "blog_not_found"


async def test_a_first_reaction_on_a_blog_being_deleted_goes_in_ahead_and_with_it(
        client, stores):
    """A first reaction takes no lock of the blog's row ahead of its insert (its row is
    invisible to the cascade): its foreign key's share lock passes the deletion queued on
    the blog's row, so it commits first and the deletion takes it with the blog; the answer
    is its counts or 404, depending only on whether the counts are read before the deletion
    commits. Either way, no deadlock and nothing left."""
    pool, _ = stores
    _, _, blog_id, _ = await blog_with_comment(client)
    ann_too = await sign_up(client)
    outcome = await deleted_while(pool, blog_id, PgBlogRepository(pool).react(
        blog_id, ann_too["user"]["id"], Reaction.LOVE))
    assert ((isinstance(outcome, NotFoundError) and outcome.code == "blog_not_found")
            or (isinstance(outcome, ReactionCounts)
                and (outcome.like, outcome.love) == (1, 1))), outcome


async def test_a_notification_about_a_blog_or_comment_gone_is_not_stored_quietly(
        client, stores, caplog):
    """A comment or like that raced its blog's deletion: the listener's notification has no
    blog to point to, which is an outcome, not an error. Another violation still raises."""
    pool, _ = stores
    ann, bob, blog_id, comment_id = await blog_with_comment(client)
    await PgBlogRepository(pool).delete(blog_id)
    store, now = PgNotificationStore(pool), datetime.now(timezone.utc)
    ann_id, bob_id = ann["user"]["id"], bob["user"]["id"]
    caplog.set_level(logging.INFO)
    commented = Draft(ann_id, Kind.BLOG_COMMENTED, bob_id, f"comment:{comment_id}",
                      f"comment:{comment_id}", blog_id=blog_id, comment_id=comment_id)
    liked = Draft(ann_id, Kind.BLOG_LIKED, None, f"blog:{blog_id}", f"liked:{blog_id}",
                  blog_id=blog_id, text="like")
    assert await store.add(commented, now) is None
    assert await store.add_actors(liked, [bob_id], now) is None
    assert await store.add_for_each([bob_id], liked, now) == []
    assert not [r for r in caplog.records if r.levelno >= logging.INFO]
    assert await pool.fetchval("SELECT count(*) FROM notifications WHERE blog_id = $1",
                               blog_id) == 0
    nobody = Draft(10 ** 12, Kind.BLOG_COMMENTED, bob_id, "user:0", "user:0")
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await store.add(nobody, now)


async def test_a_like_withdrawn_from_its_notification_while_the_blog_is_deleted(
        client, stores):
    """The unlike's withdrawal, held at its lock of the notification behind the blog's
    deletion (a concurrent like joining the group holds it), finds it gone. It deadlocked
    when it deleted the actor first, then waited on the notification, while the cascade
    held the notification and waited on the actor."""
    pool, _ = stores
    ann, bob = await sign_up(client), await sign_up(client)
    r = await client.post("/api/v1/blog", headers=bearer(ann), json={"title": "T", "body": "b"})
    blog_id, ann_id, bob_id = r.json()["id"], ann["user"]["id"], bob["user"]["id"]
    store = PgNotificationStore(pool)
    liked = Draft(ann_id, Kind.BLOG_LIKED, None, f"blog:{blog_id}", f"liked:{blog_id}",
                  blog_id=blog_id, text="like")
    notification = await store.add_actors(liked, [bob_id], datetime.now(timezone.utc))
    held = ("SELECT 1 FROM notifications WHERE id = $1 FOR NO KEY UPDATE", notification.id)
    outcome = await deleted_while(pool, blog_id, store.withdraw(
        Kind.BLOG_LIKED, f"blog:{blog_id}", recipient_id=ann_id, actor_id=bob_id), held)
    assert outcome == []  # the deletion took it: nobody's count changed by the withdrawal
    assert await pool.fetchval("SELECT count(*) FROM notifications WHERE id = $1",
                               notification.id) == 0
