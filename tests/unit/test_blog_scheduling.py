"""Scheduled blogs, on in-memory fakes with a clock the test moves."""

from __future__ import annotations

from datetime import timedelta

import pytest

from nirvana.domain.blogs.events import BlogEvent, BlogPublished, BlogReadersChanged
from nirvana.domain.blogs.model import BlogChanges, BlogFields, BlogFilter, BlogStatus
from nirvana.domain.blogs.service import Blogs
from nirvana.domain.errors import ConflictError, InvalidInputError, NotFoundError
from tests.support.clock import FakeClock
from tests.support.fakes_blogs import FakeBlogRepository, FakeCommentRepository, blog_fields

ANN, BOB = 1, 2


class RecordedEvents:
    def __init__(self) -> None:
        self.events: list[BlogEvent] = []

    async def publish(self, event: BlogEvent) -> None:
        self.events.append(event)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def events() -> RecordedEvents:
    return RecordedEvents()


@pytest.fixture
def blogs(clock, events) -> Blogs:
    repo = FakeBlogRepository()
    return Blogs(blogs=repo, comments=FakeCommentRepository(repo), clock=clock, events=events)


def scheduled(clock: FakeClock, seconds: float = 60, title: str = "Soon", **over) -> BlogFields:
    return blog_fields(title, status=BlogStatus.SCHEDULED,
                       publish_at=clock.now() + timedelta(seconds=seconds), **over)


async def visible_to_others(blogs: Blogs, blog_id: int) -> bool:
    try:
        await blogs.get(blog_id, BOB)
    except NotFoundError:
        return False
    feed = (await blogs.feed(None, None, 10)).blogs
    found, _ = await blogs.search(None, BlogFilter(q="Soon"), 1, 10)
    listed = [b.id for b in feed] + [b.id for b in found]
    return listed.count(blog_id) == 2


async def test_a_scheduled_blog_is_hidden_until_its_time_then_published_once(blogs, clock,
                                                                           events):
    blog = await blogs.create(ANN, scheduled(clock, 60))
    assert blog.status is BlogStatus.SCHEDULED and events.events == []
    assert (await blogs.get(blog.id, ANN)).id == blog.id  # its author sees it
    assert not await visible_to_others(blogs, blog.id)
    assert await blogs.publish_due() == []
    clock.advance(59)
    assert await blogs.publish_due() == []
    clock.advance(1)
    [published] = await blogs.publish_due()
    assert published.status is BlogStatus.PUBLISHED
    assert published.published_at == blog.published_at  # at its time, not when noticed
    assert await visible_to_others(blogs, blog.id)
    assert await blogs.publish_due() == []  # exactly once
    assert events.events == [BlogPublished(blog.id, ANN, "Soon", "soon", blog.published_at,
                                           "Body")]


async def test_blogs_due_while_the_server_was_down_are_published_at_the_next_look(
        blogs, clock, events):
    first = await blogs.create(ANN, scheduled(clock, 60, title="One"))
    second = await blogs.create(ANN, scheduled(clock, 120, title="Two"))
    assert await blogs.next_scheduled() == first.published_at
    clock.advance(3600)  # down for an hour
    assert [b.id for b in await blogs.publish_due()] == [first.id, second.id]
    assert [e.blog_id for e in events.events] == [first.id, second.id]
    assert await blogs.next_scheduled() is None


async def test_the_time_must_be_in_the_future_and_only_with_scheduled(blogs, clock):
    for bad in (scheduled(clock, 0), scheduled(clock, -5),
                blog_fields("Soon", status=BlogStatus.SCHEDULED),
                blog_fields("Soon", publish_at=clock.now() + timedelta(hours=1)),
                scheduled(clock, 60, body="")):
        with pytest.raises(InvalidInputError):
            await blogs.create(ANN, bad)


async def test_a_scheduled_blog_cannot_be_liked_or_commented_before_its_time(blogs, clock):
    blog = await blogs.create(ANN, scheduled(clock))
    with pytest.raises(ConflictError):
        await blogs.like(blog.id, ANN)
    with pytest.raises(NotFoundError):
        await blogs.comment(blog.id, BOB, "first!")


async def test_moving_publishing_now_or_unscheduling(blogs, clock, events):
    blog = await blogs.create(ANN, scheduled(clock, 60))
    later = clock.now() + timedelta(hours=2)
    moved = await blogs.update(blog.id, ANN, BlogChanges(publish_at=later), blog.updated_at)
    assert moved.status is BlogStatus.SCHEDULED and moved.published_at == later
    clock.advance(120)
    assert await blogs.publish_due() == []  # the old time no longer counts
    now = await blogs.update(blog.id, ANN, BlogChanges(status=BlogStatus.PUBLISHED),
                             moved.updated_at)
    assert now.published_at == now.updated_at  # published when the author said so
    assert [e.blog_id for e in events.events] == [blog.id]
    with pytest.raises(ConflictError):  # public once: no scheduling it again
        await blogs.update(blog.id, ANN, BlogChanges(
            status=BlogStatus.SCHEDULED, publish_at=clock.now() + timedelta(hours=1)),
            now.updated_at)
    other = await blogs.create(ANN, scheduled(clock, 60, title="Other"))
    draft = await blogs.update(other.id, ANN, BlogChanges(status=BlogStatus.DRAFT),
                               other.updated_at)
    assert draft.status is BlogStatus.DRAFT and draft.published_at is None
    clock.advance(3600)
    assert await blogs.publish_due() == []


async def test_an_edit_loaded_before_the_publication_is_stale(blogs, clock):
    blog = await blogs.create(ANN, scheduled(clock, 60))
    clock.advance(60)
    await blogs.publish_due()
    with pytest.raises(ConflictError):
        await blogs.update(blog.id, ANN, BlogChanges(status=BlogStatus.SCHEDULED),
                           blog.updated_at)


async def test_writing_a_published_blog_announces_it_once(blogs, events):
    blog = await blogs.create(ANN, blog_fields(title="Now"))
    draft = await blogs.create(ANN, blog_fields(title="Later", status=BlogStatus.DRAFT))
    published = await blogs.update(draft.id, ANN, BlogChanges(status=BlogStatus.PUBLISHED),
                                   draft.updated_at)
    back = await blogs.update(draft.id, ANN, BlogChanges(status=BlogStatus.DRAFT),
                              published.updated_at)
    await blogs.update(draft.id, ANN, BlogChanges(status=BlogStatus.PUBLISHED), back.updated_at)
    announced = [e.blog_id for e in events.events if isinstance(e, BlogPublished)]
    assert announced == [blog.id, draft.id]
    # Unpublished and published again: its readers changed twice, it was not announced.
    assert [e for e in events.events if isinstance(e, BlogReadersChanged)] == [
        BlogReadersChanged(draft.id)] * 2
