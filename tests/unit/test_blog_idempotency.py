"""A create retried with its idempotency key, on in-memory fakes: the first attempt's row
comes back, and nobody is told about it twice."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from nirvana.domain.blogs.events import BlogEvent, BlogPublished, CommentAdded
from nirvana.domain.blogs.model import BlogFields, BlogStatus
from nirvana.domain.blogs.service import Blogs
from nirvana.domain.errors import NotFoundError
from nirvana.domain.idempotency import IdempotencyKey, IdempotencyKeyReusedError
from tests.support.clock import FakeClock
from tests.support.fakes_blogs import FakeBlogRepository, FakeCommentRepository

ANN, BOB = 1, 2
FIELDS = BlogFields(title="Once", body="Body", summary="", header_image=None, images=(),
                    tags=(), place=None, status=BlogStatus.PUBLISHED)


class RecordedEvents:
    def __init__(self) -> None:
        self.events: list[BlogEvent] = []

    async def publish(self, event: BlogEvent) -> None:
        self.events.append(event)


@pytest.fixture
def events() -> RecordedEvents:
    return RecordedEvents()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def repo() -> FakeBlogRepository:
    return FakeBlogRepository()


@pytest.fixture
def blogs(events: RecordedEvents, clock: FakeClock, repo: FakeBlogRepository) -> Blogs:
    return Blogs(blogs=repo, comments=FakeCommentRepository(repo), clock=clock,
                 events=events)


async def test_a_replayed_blog_is_announced_once(blogs, events):
    key = IdempotencyKey("k", "print")
    first, created = await blogs.create_once(ANN, FIELDS, key)
    again, created_again = await blogs.create_once(ANN, FIELDS, key)
    assert (created, created_again) == (True, False) and again.id == first.id
    assert [type(e) for e in events.events] == [BlogPublished]


async def test_a_replayed_comment_notifies_once(blogs, events):
    blog = await blogs.create(ANN, FIELDS)
    key = IdempotencyKey("k", "print")
    first, _ = await blogs.comment_once(blog.id, BOB, "Hi", key)
    again, created = await blogs.comment_once(blog.id, BOB, "Hi", key)
    assert not created and again.id == first.id
    assert [type(e) for e in events.events] == [BlogPublished, CommentAdded]


async def test_a_key_reused_for_another_request_is_refused(blogs, events):
    await blogs.create_once(ANN, FIELDS, IdempotencyKey("k", "print"))
    with pytest.raises(IdempotencyKeyReusedError):
        await blogs.create_once(ANN, FIELDS, IdempotencyKey("k", "another"))
    assert len(events.events) == 1


async def test_a_scheduled_blog_retried_after_its_time_answers_the_stored_blog(blogs, clock):
    # The retry's checks would refuse it now (its time has passed): the refusal reads the
    # key, so the lost answer's blog comes back instead of a 422.
    fields = replace(FIELDS, status=BlogStatus.SCHEDULED,
                     publish_at=clock.now() + timedelta(seconds=2))
    key = IdempotencyKey("k", "print")
    first, _ = await blogs.create_once(ANN, fields, key)
    clock.advance(5)
    again, created = await blogs.create_once(ANN, fields, key)
    assert not created and again.id == first.id


async def test_a_comment_retried_after_its_blog_closed_answers_the_stored_comment(blogs, repo):
    # The author still sees her own draft: the published check would refuse the retry,
    # so the key is read and the stored comment answers.
    blog = await blogs.create(ANN, FIELDS)
    key = IdempotencyKey("k", "print")
    first, _ = await blogs.comment_once(blog.id, ANN, "Hi", key)
    repo.blogs[blog.id] = replace(repo.blogs[blog.id], status=BlogStatus.DRAFT)
    again, created = await blogs.comment_once(blog.id, ANN, "Hi", key)
    assert not created and again.id == first.id


async def test_a_comment_retried_on_a_blog_hidden_from_its_author_is_not_found(blogs, repo):
    # A replay answers no more than reading the blog would: a draft does not exist for Bob.
    blog = await blogs.create(ANN, FIELDS)
    key = IdempotencyKey("k", "print")
    await blogs.comment_once(blog.id, BOB, "Hi", key)
    repo.blogs[blog.id] = replace(repo.blogs[blog.id], status=BlogStatus.DRAFT)
    with pytest.raises(NotFoundError) as refused:
        await blogs.comment_once(blog.id, BOB, "Hi", key)
    assert refused.value.code == "blog_not_found"
