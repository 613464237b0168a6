"""The blog rules, on in-memory fakes: no database, no HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest

from nirvana.domain.blogs.model import (
    Audience,
    BlogChanges,
    BlogFilter,
    BlogStatus,
    FeedPosition,
    Place,
    decode_cursor,
    encode_cursor,
)
from nirvana.domain.blogs.service import Blogs
from nirvana.domain.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from tests.support.clock import FakeClock
from tests.support.fakes_blogs import FakeBlogRepository, FakeCommentRepository, blog_fields

ANN, BOB, CID = 1, 2, 3


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def repo() -> FakeBlogRepository:
    return FakeBlogRepository()


@pytest.fixture
def blogs(repo: FakeBlogRepository, clock: FakeClock) -> Blogs:
    return Blogs(blogs=repo, comments=FakeCommentRepository(repo), clock=clock)


async def test_tags_are_normalised_and_deduplicated(blogs):
    blog = await blogs.create(ANN, blog_fields(tags=("Go", " go ", "Slow   Food")))
    assert blog.tags == ("go", "slow food")


INVALID = [
    dict(title=""), dict(title="x" * 201), dict(body="a\x00b"), dict(header_image="ftp://x"),
    dict(images=("/media/a.png",) * 11), dict(tags=tuple(f"t{i}" for i in range(11))), dict(tags=("x" * 41,)),
    dict(place=Place("", "France")), dict(body="", status=BlogStatus.PUBLISHED),
    dict(title="\ud800"), dict(images=("https://a b",)),
]


async def test_invalid_fields_are_refused(blogs, repo):
    # A loop, not parametrize: the harness's anyio marking does not mix with parametrized
    # async tests.
    for bad in INVALID:
        with pytest.raises(InvalidInputError):
            await blogs.create(ANN, blog_fields(**bad))
    assert repo.blogs == {}


async def test_an_empty_draft_body_is_fine_until_it_is_published(blogs):
    draft = await blogs.create(ANN, blog_fields(body="", status=BlogStatus.DRAFT))
    assert draft.published_at is None
    with pytest.raises(InvalidInputError):
        await blogs.update(draft.id, ANN, BlogChanges(status=BlogStatus.PUBLISHED),
                           draft.updated_at)


async def test_drafts_are_visible_to_their_author_only(blogs):
    draft = await blogs.create(ANN, blog_fields(status=BlogStatus.DRAFT))
    assert (await blogs.get(draft.id, ANN)).id == draft.id
    for viewer in (BOB, None):
        with pytest.raises(NotFoundError):
            await blogs.get(draft.id, viewer)


async def test_a_block_either_way_hides_the_blog(blogs, repo):
    blog = await blogs.create(ANN, blog_fields())
    repo.blocks.add((ANN, BOB))
    repo.blocks.add((CID, ANN))
    for viewer in (BOB, CID):
        with pytest.raises(NotFoundError):
            await blogs.get(blog.id, viewer)
        with pytest.raises(NotFoundError):
            await blogs.like(blog.id, viewer)
        with pytest.raises(NotFoundError):
            await blogs.comment(blog.id, viewer, "hi")
    assert (await blogs.get(blog.id, None)).id == blog.id


async def test_only_the_author_edits_or_deletes(blogs):
    blog = await blogs.create(ANN, blog_fields())
    with pytest.raises(PermissionDeniedError):
        await blogs.update(blog.id, BOB, BlogChanges(title="x"), blog.updated_at)
    with pytest.raises(PermissionDeniedError):
        await blogs.delete(blog.id, BOB)
    await blogs.delete(blog.id, ANN)
    with pytest.raises(NotFoundError):
        await blogs.get(blog.id, ANN)


async def test_stale_edit_is_a_conflict_and_updated_at_always_moves(blogs, clock):
    blog = await blogs.create(ANN, blog_fields())
    # Same clock tick: the new version still gets a later updated_at than the old one.
    edited = await blogs.update(blog.id, ANN, BlogChanges(title="Two"), blog.updated_at)
    assert edited.updated_at > blog.updated_at
    with pytest.raises(ConflictError) as caught:
        await blogs.update(blog.id, ANN, BlogChanges(title="Stale"), blog.updated_at)
    assert caught.value.code == "stale_update"
    assert (await blogs.get(blog.id, ANN)).title == "Two"


async def test_first_publication_sets_published_at_and_republishing_keeps_it(blogs, clock):
    draft = await blogs.create(ANN, blog_fields(status=BlogStatus.DRAFT))
    clock.advance(60)
    pub = await blogs.update(draft.id, ANN, BlogChanges(status=BlogStatus.PUBLISHED),
                             draft.updated_at)
    assert pub.published_at == clock.now()
    back = await blogs.update(draft.id, ANN, BlogChanges(status=BlogStatus.DRAFT), pub.updated_at)
    clock.advance(60)
    again = await blogs.update(draft.id, ANN, BlogChanges(status=BlogStatus.PUBLISHED),
                               back.updated_at)
    assert again.published_at == pub.published_at


async def test_changes_can_clear_the_place_and_header_image(blogs):
    blog = await blogs.create(ANN, blog_fields(place=Place("Paris", "France"),
                                               header_image="/media/h.png"))
    cleared = await blogs.update(blog.id, ANN, BlogChanges(clear_place=True,
                                                           clear_header_image=True),
                                 blog.updated_at)
    assert cleared.location is None and cleared.header_image is None
    assert cleared.title == blog.title


async def test_likes_are_idempotent_and_drafts_cannot_be_liked(blogs):
    blog = await blogs.create(ANN, blog_fields())
    assert await blogs.like(blog.id, BOB) == 1
    assert await blogs.like(blog.id, BOB) == 1
    assert await blogs.unlike(blog.id, BOB) == 0
    assert await blogs.unlike(blog.id, BOB) == 0
    draft = await blogs.create(ANN, blog_fields(status=BlogStatus.DRAFT))
    with pytest.raises(ConflictError):
        await blogs.like(draft.id, ANN)


async def test_comment_rules(blogs):
    blog = await blogs.create(ANN, blog_fields())
    c = await blogs.comment(blog.id, BOB, "nice")
    with pytest.raises(InvalidInputError):
        await blogs.comment(blog.id, BOB, "   ")
    with pytest.raises(PermissionDeniedError):
        await blogs.edit_comment(blog.id, c.id, ANN, "changed by the blog author")
    with pytest.raises(PermissionDeniedError):
        await blogs.delete_comment(blog.id, c.id, CID)
    await blogs.delete_comment(blog.id, c.id, ANN)  # the blog's author moderates
    rows, total = await blogs.comments(blog.id, None, 1, 10)
    assert rows == [] and total == 0


async def test_feed_reports_a_next_position_only_when_more_exist(blogs, clock):
    for i in range(3):
        await blogs.create(ANN, blog_fields(title=f"P{i}"))
        clock.advance()
    page = await blogs.feed(None, None, 2)
    assert [b.title for b in page.blogs] == ["P2", "P1"] and page.next is not None
    rest = await blogs.feed(None, page.next, 2)
    assert [b.title for b in rest.blogs] == ["P0"] and rest.next is None


def test_cursor_round_trips_and_foreign_cursors_are_invalid(clock):
    position = FeedPosition(clock.now() + timedelta(microseconds=7), 42)
    assert decode_cursor(encode_cursor(position)) == position
    for bad in ("", "!!!", "bm90IGEgY3Vyc29y", encode_cursor(position)[:-3]):
        with pytest.raises(InvalidInputError):
            decode_cursor(bad)


async def test_search_filter_is_validated(blogs):
    with pytest.raises(InvalidInputError):
        await blogs.search(None, BlogFilter(q="a\x00"), 1, 10)
    clock_now = FakeClock().now()
    with pytest.raises(InvalidInputError):
        await blogs.search(None, BlogFilter(since=clock_now, until=clock_now - timedelta(1)),
                           1, 10)


async def test_a_sitemap_part_s_version_moves_only_with_writes_to_its_own_blogs(blogs, repo):
    first = await blogs.create(ANN, blog_fields(title="One"))
    part_of_first = first.id // 2000  # parts of 2,000 ids, as the sitemap's
    mine = blogs.public_pages_version(part_of_first, 2000)
    other = blogs.public_pages_version(part_of_first + 3, 2000)
    second = await blogs.create(ANN, blog_fields(title="Two"))  # the same part
    assert blogs.public_pages_version(part_of_first, 2000) != mine
    assert blogs.public_pages_version(part_of_first + 3, 2000) == other
    mine = blogs.public_pages_version(part_of_first, 2000)
    edited = await blogs.update(second.id, ANN, BlogChanges(title="Two!"), second.updated_at)
    assert blogs.public_pages_version(part_of_first, 2000) != mine
    mine = blogs.public_pages_version(part_of_first, 2000)
    await blogs.update(second.id, ANN, BlogChanges(audience=Audience.FRIENDS),
                       edited.updated_at)
    assert blogs.public_pages_version(part_of_first, 2000) != mine
    mine = blogs.public_pages_version(part_of_first, 2000)
    await blogs.delete(first.id, ANN)
    assert blogs.public_pages_version(part_of_first, 2000) != mine
    assert blogs.public_pages_version(part_of_first + 3, 2000) == other
    # An account's blogs went without a write through here: every part moves.
    blogs.authors_removed()
    assert blogs.public_pages_version(part_of_first + 3, 2000) != other
