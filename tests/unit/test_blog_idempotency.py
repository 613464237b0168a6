"""A create retried with its idempotency key, on in-memory fakes: the first attempt's row
comes back, and nobody is told about it twice."""

from __future__ import annotations

import pytest

from nirvana.domain.blogs.events import BlogEvent, BlogPublished, CommentAdded
from nirvana.domain.blogs.model import BlogFields, BlogStatus
from nirvana.domain.blogs.service import Blogs
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
def blogs(events: RecordedEvents) -> Blogs:
    repo = FakeBlogRepository()
    return Blogs(blogs=repo, comments=FakeCommentRepository(repo), clock=FakeClock(),
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
