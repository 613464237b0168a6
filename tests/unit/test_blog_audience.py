"""The audience rule on in-memory fakes: who reads a followers-only or friends-only blog."""

from __future__ import annotations

import pytest

from nirvana.domain.blogs.model import Audience, BlogChanges, BlogFields, BlogStatus
from nirvana.domain.blogs.service import Blogs
from nirvana.domain.errors import NotFoundError
from tests.support.clock import FakeClock
from tests.support.fakes_blogs import FakeBlogRepository, FakeCommentRepository

AUTHOR, FRIEND, FOLLOWER, STRANGER = 1, 2, 3, 4
READERS = {AUTHOR: "author", FRIEND: "friend", FOLLOWER: "follower", STRANGER: "stranger",
           None: "anonymous"}
ADMITS = {
    Audience.PUBLIC: {"author", "friend", "follower", "stranger", "anonymous"},
    Audience.FOLLOWERS: {"author", "friend", "follower"},
    Audience.FRIENDS: {"author", "friend"},
}


@pytest.fixture
def repo() -> FakeBlogRepository:
    repo = FakeBlogRepository()
    repo.friends |= {(AUTHOR, FRIEND), (FRIEND, AUTHOR)}
    repo.follows.add((FOLLOWER, AUTHOR))
    return repo


@pytest.fixture
def blogs(repo) -> Blogs:
    return Blogs(blogs=repo, comments=FakeCommentRepository(repo), clock=FakeClock())


def fields(audience: Audience) -> BlogFields:
    return BlogFields(title=f"For {audience}", body="b", summary="", header_image=None,
                      images=(), tags=(), place=None, status=BlogStatus.PUBLISHED,
                      audience=audience)


@pytest.mark.parametrize("audience", list(Audience))
async def test_a_blog_is_read_by_its_audience_only(blogs, audience):
    blog = await blogs.create(AUTHOR, fields(audience))
    for viewer, who in READERS.items():
        in_feed = blog.id in [b.id for b in (await blogs.feed(viewer, None, 10)).blogs]
        try:
            await blogs.get(blog.id, viewer)
            alone = True
        except NotFoundError:
            alone = False
        assert alone == in_feed == (who in ADMITS[audience]), (audience, who)


async def test_narrowing_the_audience_takes_the_blog_away(blogs):
    blog = await blogs.create(AUTHOR, fields(Audience.PUBLIC))
    await blogs.update(blog.id, AUTHOR, BlogChanges(audience=Audience.FRIENDS), blog.updated_at)
    with pytest.raises(NotFoundError):
        await blogs.get(blog.id, FOLLOWER)
    with pytest.raises(NotFoundError):
        await blogs.comments(blog.id, STRANGER, 1, 10)
    assert await blogs.public_pages(0, 10) == []
