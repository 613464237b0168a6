"""What is notified, to whom, and what an undo takes back: the rules on in-memory fakes.

The social graph here is the real one (on its fake repository), so these tests also show
that its domain events reach the notifications without any route calling them."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from nirvana.domain.blogs.events import (
    BlogReacted,
    BlogPublished,
    BlogReactionCleared,
    BlogReadersChanged,
    CommentAdded,
    CommentDeleted,
)
from nirvana.domain.blogs.model import Audience, Reaction
from nirvana.domain.errors import NotFoundError
from nirvana.domain.notifications.entities import MIXED_REACTIONS, Kind
from nirvana.domain.notifications.policy import NotificationPolicy, mentions, summary
from nirvana.domain.notifications.service import Notifications
from nirvana.domain.social.graph import SocialGraph
from tests.support.clock import FakeClock
from tests.support.fakes_notifications import FakeAudience, FakeNotificationStore, HeardLive
from tests.support.fakes_social import FakeBlogCounter, FakeSocialRepository

pytestmark = pytest.mark.anyio

ANN, BOB, CAT, DAN = 1, 2, 3, 4


class World:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.store = FakeNotificationStore()
        self.audience = FakeAudience()
        self.live = HeardLive()
        self.notifications = Notifications(store=self.store, audience=self.audience,
                                           clock=self.clock, live=self.live,
                                           policy=NotificationPolicy(timedelta(hours=1)))
        repo = FakeSocialRepository()
        for uid, name in [(ANN, "ann"), (BOB, "bob"), (CAT, "cat"), (DAN, "dan")]:
            repo.add_user(uid, name)
            self.audience.usernames[name] = uid
        self.graph = SocialGraph(repo, FakeBlogCounter(), events=self)

    async def publish(self, event) -> None:
        # What bootstrap.py wires: the graph's events to the notifications.
        if hasattr(event, "blocker"):
            self.audience.blocks.add(frozenset((event.blocker, event.blocked)))
        await self.notifications.handle(event)

    async def kinds(self, user_id: int) -> list[Kind]:
        return [n.kind for n in (await self.notifications.page(user_id, None, 50)).items]


@pytest.fixture
def world() -> World:
    return World()


async def test_a_friend_request_notifies_its_recipient_and_acceptance_its_sender(world):
    await world.graph.send_friend_request(ANN, BOB)
    assert await world.kinds(BOB) == [Kind.FRIEND_REQUEST]
    assert await world.kinds(ANN) == []

    world.clock.advance(1)
    await world.graph.accept_friend_request(BOB, ANN)
    assert await world.kinds(ANN) == [Kind.FRIEND_ACCEPTED]
    # The request is answered: it no longer waits in Bob's list.
    assert await world.kinds(BOB) == []


async def test_accepting_twice_notifies_once(world):
    await world.graph.send_friend_request(ANN, BOB)
    await world.graph.accept_friend_request(BOB, ANN)
    await world.graph.accept_friend_request(BOB, ANN)
    assert await world.kinds(ANN) == [Kind.FRIEND_ACCEPTED]


async def test_a_cancelled_or_declined_request_is_withdrawn_while_unread(world):
    await world.graph.send_friend_request(ANN, BOB)
    await world.graph.cancel_friend_request(ANN, BOB)
    assert await world.kinds(BOB) == []
    await world.graph.send_friend_request(CAT, BOB)
    await world.graph.decline_friend_request(BOB, CAT)
    assert await world.kinds(BOB) == []


async def test_a_follow_notifies_and_an_unfollow_withdraws_it(world):
    await world.graph.follow(ANN, BOB)
    assert await world.kinds(BOB) == [Kind.NEW_FOLLOWER]
    await world.graph.unfollow(ANN, BOB)
    assert await world.kinds(BOB) == []


async def test_an_unfollow_leaves_a_notification_already_read(world):
    await world.graph.follow(ANN, BOB)
    await world.notifications.mark_all_read(BOB)
    await world.graph.unfollow(ANN, BOB)
    page = await world.notifications.page(BOB, None, 10)
    assert [n.kind for n in page.items] == [Kind.NEW_FOLLOWER] and page.items[0].read


async def test_a_block_withdraws_what_is_unread_between_the_two_and_stops_more(world):
    await world.graph.follow(ANN, BOB)
    await world.graph.send_friend_request(BOB, ANN)
    await world.graph.block(BOB, ANN)
    assert await world.kinds(BOB) == [] and await world.kinds(ANN) == []
    # Whatever the blocked one does next tells the blocker nothing.
    await world.notifications.handle(BlogReacted(10, BOB, ANN))
    await world.notifications.handle(CommentAdded(10, BOB, 5, ANN, "hi"))
    assert await world.kinds(BOB) == []


async def test_likes_on_one_blog_in_one_window_are_one_notification(world):
    for liker in (ANN, CAT, DAN):
        world.clock.advance(1)
        await world.notifications.handle(BlogReacted(10, BOB, liker))
    await world.notifications.handle(BlogReacted(10, BOB, CAT))  # a repeated like
    [n] = (await world.notifications.page(BOB, None, 10)).items
    assert n.kind is Kind.BLOG_LIKED and n.actor_count == 3
    assert [a.id for a in n.actors] == [DAN, CAT, ANN]
    assert summary(n).startswith("User 4 and 2 others liked")
    assert await world.notifications.unread_count(BOB) == 1


async def test_likes_in_the_next_window_or_after_reading_start_a_new_notification(world):
    await world.notifications.handle(BlogReacted(10, BOB, ANN))
    world.clock.advance(3600)
    await world.notifications.handle(BlogReacted(10, BOB, CAT))
    assert await world.kinds(BOB) == [Kind.BLOG_LIKED, Kind.BLOG_LIKED]
    await world.notifications.mark_all_read(BOB)
    await world.notifications.handle(BlogReacted(10, BOB, DAN))
    assert await world.notifications.unread_count(BOB) == 1


async def test_an_unlike_takes_its_liker_off_and_the_last_one_withdraws_it(world):
    await world.notifications.handle(BlogReacted(10, BOB, ANN))
    await world.notifications.handle(BlogReacted(10, BOB, CAT))
    await world.notifications.handle(BlogReactionCleared(10, BOB, ANN))
    [n] = (await world.notifications.page(BOB, None, 10)).items
    assert n.actor_count == 1 and [a.id for a in n.actors] == [CAT]
    await world.notifications.handle(BlogReactionCleared(10, BOB, CAT))
    assert await world.kinds(BOB) == []


async def test_nothing_about_your_own_actions(world):
    await world.notifications.handle(BlogReacted(10, BOB, BOB))
    await world.notifications.handle(CommentAdded(10, BOB, 5, BOB, "note to self @bob"))
    assert await world.kinds(BOB) == []


async def test_a_comment_notifies_the_author_and_its_deletion_withdraws_it(world):
    await world.notifications.handle(CommentAdded(10, BOB, 5, ANN, "nice"))
    [n] = (await world.notifications.page(BOB, None, 10)).items
    assert (n.kind, n.blog_id, n.comment_id) == (Kind.BLOG_COMMENTED, 10, 5)
    await world.notifications.handle(CommentDeleted(10, BOB, 5, ANN, ()))
    assert await world.kinds(BOB) == []


async def test_mentions_notify_who_can_see_them_and_nobody_else(world):
    world.audience.blocks.add(frozenset((BOB, DAN)))  # the blog's author blocked Dan
    world.audience.authors[10] = BOB
    await world.notifications.handle(CommentAdded(10, BOB, 5, ANN, "@cat @dan @nobody @bob"))
    assert await world.kinds(CAT) == [Kind.MENTIONED]
    assert await world.kinds(DAN) == []
    # Bob is told of the comment once, not also of the mention.
    assert await world.kinds(BOB) == [Kind.BLOG_COMMENTED]
    await world.notifications.handle(CommentDeleted(10, BOB, 5, ANN, ()))
    assert await world.kinds(CAT) == []


async def test_a_new_blog_notifies_followers_and_mentions_once_each(world):
    world.audience.follows |= {(ANN, BOB), (CAT, BOB)}
    await world.notifications.handle(BlogPublished(10, BOB, "Trip", "trip",
                                                   world.clock.now(), "with @cat"))
    assert await world.kinds(ANN) == [Kind.NEW_BLOG]
    assert await world.kinds(CAT) == [Kind.MENTIONED]


async def test_a_blog_outside_its_audience_is_neither_notified_nor_mentioned(world):
    world.audience.follows |= {(ANN, BOB), (CAT, BOB)}
    world.audience.friends.add(frozenset((CAT, BOB)))
    await world.notifications.handle(BlogPublished(
        10, BOB, "Close", "close", world.clock.now(), "for @cat and @dan",
        audience=Audience.FRIENDS))
    await world.notifications.handle(BlogPublished(
        11, BOB, "Fans", "fans", world.clock.now(), "hi @dan", audience=Audience.FOLLOWERS))
    assert await world.kinds(CAT) == [Kind.NEW_BLOG, Kind.MENTIONED]  # a friend: both
    assert await world.kinds(ANN) == [Kind.NEW_BLOG]  # a follower: the followers' blog only
    assert await world.kinds(DAN) == []  # a stranger, mentioned in neither audience


async def test_every_change_tells_the_recipient_its_unread_count(world):
    await world.graph.follow(ANN, BOB)
    await world.graph.follow(CAT, BOB)
    await world.graph.unfollow(ANN, BOB)
    assert [(c.recipient_id, c.unread, c.notification is not None)
            for c in world.live.changes] == [(BOB, 1, True), (BOB, 2, True), (BOB, 1, False)]
    first = (await world.notifications.page(BOB, None, 1)).items[0]
    assert await world.notifications.mark_read(BOB, first.id) == 0
    assert world.live.changes[-1].unread == 0


async def test_a_change_of_a_blogs_readers_tells_who_holds_one_unread(world):
    # Who is shown what is the store's reading rule (PostgreSQL's); the rule here is who is
    # told to look again: every holder of an unread notification of that blog, no one else.
    world.audience.follows |= {(ANN, BOB), (CAT, BOB)}
    await world.notifications.handle(BlogPublished(
        10, BOB, "Trip", "trip", world.clock.now(), "words"))
    first = (await world.notifications.page(CAT, None, 1)).items[0]
    await world.notifications.mark_read(CAT, first.id)
    await world.notifications.handle(BlogPublished(
        11, BOB, "Other", "other", world.clock.now(), "words"))
    before = len(world.live.changes)
    await world.notifications.handle(BlogReadersChanged(10))
    await world.notifications.settled()  # told after the change's answer, in the background
    assert [(c.recipient_id, c.notification) for c in world.live.changes[before:]] == [
        (ANN, None)]


async def test_others_notifications_are_not_found(world):
    await world.graph.follow(ANN, BOB)
    [n] = (await world.notifications.page(BOB, None, 10)).items
    with pytest.raises(NotFoundError):
        await world.notifications.mark_read(ANN, n.id)
    with pytest.raises(NotFoundError):
        await world.notifications.delete(ANN, n.id)
    await world.notifications.delete(BOB, n.id)
    assert await world.kinds(BOB) == []


async def test_pages_follow_each_other_without_gaps(world):
    for follower in (ANN, CAT, DAN):
        world.clock.advance(1)
        await world.graph.follow(follower, BOB)
    first = await world.notifications.page(BOB, None, 2)
    second = await world.notifications.page(BOB, first.next, 2)
    assert [n.actors[0].id for n in first.items + second.items] == [DAN, CAT, ANN]
    assert second.next is None


async def test_a_system_notice_is_one_while_unread(world):
    await world.notifications.notify(ANN, "Your export is ready.", subject="export:1")
    await world.notifications.notify(ANN, "Your export is ready.", subject="export:1")
    [n] = (await world.notifications.page(ANN, None, 10)).items
    assert summary(n) == "Your export is ready."


def test_mentions_are_parsed_once_each_and_not_in_addresses():
    assert mentions("@Ann hi @bob, mail me@cat.example; @ann again @xy") == [("ann",), ("bob",)]


class GatedStore(FakeNotificationStore):
    """Holds every batch write until the test opens the gate: likes meanwhile must wait
    for the next batch, not write one each."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.batches: list[list[int]] = []
        self.texts: list[str | None] = []

    async def add_actors(self, draft, actor_ids, now):
        self.batches.append(list(actor_ids))
        self.texts.append(draft.text)
        await self.gate.wait()
        return await super().add_actors(draft, actor_ids, now)


async def test_a_like_storm_is_written_in_batches_and_an_unlike_meanwhile_counts():
    store, live = GatedStore(), HeardLive()
    n = Notifications(store=store, audience=FakeAudience(), clock=FakeClock(), live=live)
    first = asyncio.ensure_future(n.handle(BlogReacted(10, BOB, ANN)))
    await asyncio.sleep(0)
    for liker in (CAT, DAN, 5, 6):
        await n.handle(BlogReacted(10, BOB, liker))  # returns at once: queued
    await n.handle(BlogReactionCleared(10, BOB, DAN))
    store.gate.set()
    await first
    await n.settled()
    assert store.batches == [[ANN], [CAT, 5, 6]]
    [liked] = (await n.page(BOB, None, 10)).items
    assert liked.actor_count == 4 and [c.unread for c in live.changes] == [1, 1]


async def test_a_batch_of_reactions_of_several_kinds_reads_mixed():
    store = GatedStore()
    n = Notifications(store=store, audience=FakeAudience(), clock=FakeClock(), live=HeardLive())
    first = asyncio.ensure_future(n.handle(BlogReacted(10, BOB, ANN, Reaction.LOVE)))
    await asyncio.sleep(0)
    await n.handle(BlogReacted(10, BOB, CAT, Reaction.LIKE))
    await n.handle(BlogReacted(10, BOB, DAN, Reaction.HAHA))
    store.gate.set()
    await first
    await n.settled()
    assert store.batches == [[ANN], [CAT, DAN]] and store.texts == ["love", MIXED_REACTIONS]
