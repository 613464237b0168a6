"""A signed-in reader's text search, merged from kept public matches and the reader's own
(domain/blogs/search.py), answers what the store's one query answers, for every reader."""

from __future__ import annotations

import pytest

from nirvana.domain.blogs.model import Audience, BlogFields, BlogFilter, BlogStatus
from nirvana.domain.blogs.search import BLOCK_MARGIN, SEARCH_CANDIDATES
from nirvana.domain.blogs.service import Blogs
from tests.support.clock import FakeClock
from tests.support.fakes_blogs import FakeBlogRepository, FakeCommentRepository

READER, FRIEND, FOLLOWED, STRANGER, BLOCKER, BLOCKED = range(1, 7)


def fields(title: str, audience: Audience = Audience.PUBLIC) -> BlogFields:
    return BlogFields(title=title, body="fig orchard", summary="", header_image=None,
                      images=(), tags=(), place=None, status=BlogStatus.PUBLISHED,
                      audience=audience)


@pytest.fixture
def repo() -> FakeBlogRepository:
    repo = FakeBlogRepository()
    repo.friends |= {(READER, FRIEND), (FRIEND, READER)}
    repo.follows.add((READER, FOLLOWED))
    repo.blocks |= {(BLOCKER, READER), (READER, BLOCKED)}
    return repo


@pytest.fixture
def blogs(repo) -> Blogs:
    return Blogs(blogs=repo, comments=FakeCommentRepository(repo), clock=FakeClock())


async def world(blogs: Blogs, per_author: int = 3) -> None:
    """Each author writes for each audience; every other title holds the word (ranked above
    a hit in the body only). Blogs of one instant are ordered by id, as in PostgreSQL."""
    for n in range(per_author):
        for author in (READER, FRIEND, FOLLOWED, STRANGER, BLOCKER, BLOCKED):
            for audience in Audience:
                await blogs.create(author, fields(f"Fig {n}" if n % 2 else f"Post {n}",
                                                  audience))


async def store_answer(repo: FakeBlogRepository, reader: int, terms: BlogFilter,
                       page: int, limit: int) -> list[int]:
    rows = await repo.search(reader, terms, (page - 1) * limit, limit + 1)
    return [b.id for b in rows]


async def merged_answer(blogs: Blogs, reader: int, terms: BlogFilter, page: int,
                        limit: int) -> list[int]:
    found, more = await blogs.search(reader, terms, page, limit)
    return [b.id for b in found] + (["more"] if more else [])


@pytest.mark.parametrize("reader", [READER, FRIEND, FOLLOWED, STRANGER, BLOCKER, BLOCKED])
async def test_every_reader_gets_the_stores_answer_page_by_page(blogs, repo, reader):
    await world(blogs)
    terms = BlogFilter(q="fig")
    for page in (1, 2, 3, 4):
        expected = await store_answer(repo, reader, terms, page, 5)
        merged = await merged_answer(blogs, reader, terms, page, 5)
        assert [i for i in merged if i != "more"] == expected[:5]
        assert ("more" in merged) == (len(expected) > 5)


async def test_the_public_matches_are_read_once_until_a_blog_is_written(blogs, repo):
    await world(blogs, per_author=1)
    terms = BlogFilter(q="fig")
    for reader in (READER, FRIEND, STRANGER):
        await blogs.search(reader, terms, 1, 10)
    assert repo.calls.count("public_matches") == 1
    blog = await blogs.create(STRANGER, fields("Fig new"))
    found, _ = await blogs.search(READER, terms, 1, 10)
    assert repo.calls.count("public_matches") == 2
    assert blog.id in [b.id for b in found]


async def test_a_reader_blocking_many_recent_authors_is_answered_by_the_store(blogs, repo):
    # Older public matches by a stranger, then more recent ones by an author the reader
    # blocks than the kept public matches reach past: the stranger's must still be found.
    for n in range(40):
        await blogs.create(STRANGER, fields(f"Fig old {n}"))
    for n in range(SEARCH_CANDIDATES + BLOCK_MARGIN + 10):
        await blogs.create(BLOCKED, fields(f"Fig blocked {n}"))
    found, more = await blogs.search(READER, BlogFilter(q="fig"), 1, 50)
    assert [b.id for b in found] == await store_answer(repo, READER, BlogFilter(q="fig"), 1,
                                                       50)
    assert len(found) == 40 and not more
    assert {b.author.id for b in found} == {STRANGER}
