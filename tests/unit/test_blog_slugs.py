"""Slugs: readable from any title, unique, and an old one still finds its blog."""

from __future__ import annotations

import pytest

from nirvana.domain.blogs.model import BlogChanges, BlogStatus
from nirvana.domain.blogs.service import Blogs
from nirvana.domain.blogs.slugs import MAX_SLUG, slugify
from nirvana.domain.errors import NotFoundError
from tests.support.clock import FakeClock
from tests.support.fakes_blogs import FakeBlogRepository, FakeCommentRepository, blog_fields

ANN, BOB = 1, 2

TITLES = {
    "Crème brûlée à Zürich": "creme-brulee-a-zurich",
    "Straße, Œuvre & Łódź": "strasse-oeuvre-lodz",
    "Привет, мир!": "привет-мир",
    "東京の夏": "東京の夏",
    "がっこう へ": "がっこう-へ",  # Japanese marks are part of the letter: kept
    "Ελληνικά άρθρα": "ελληνικα-αρθρα",
    "  Hello -- World_again  ": "hello-world-again",
    "2024": "post-2024",  # never all digits: /blogs/2024 is a blog id
    "?!… 🎉": "post",
}


def test_titles_in_any_script_give_readable_slugs():
    for title, slug in TITLES.items():
        assert slugify(title) == slug, title


def test_a_long_title_is_cut_at_a_word_boundary():
    slug = slugify("word " * 40)
    assert len(slug) <= MAX_SLUG and slug.endswith("word") and "--" not in slug
    assert slugify("x" * 200) == "x" * MAX_SLUG


@pytest.fixture
def repo() -> FakeBlogRepository:
    return FakeBlogRepository()


@pytest.fixture
def blogs(repo: FakeBlogRepository) -> Blogs:
    return Blogs(blogs=repo, comments=FakeCommentRepository(repo), clock=FakeClock())


async def test_the_same_title_twice_gets_distinct_slugs(blogs):
    a = await blogs.create(ANN, blog_fields("Hello world"))
    b = await blogs.create(BOB, blog_fields("Hello, World!"))
    c = await blogs.create(BOB, blog_fields("hello world"))
    assert (a.slug, b.slug, c.slug) == ("hello-world", "hello-world-2", "hello-world-3")
    assert (await blogs.get_by_slug("hello-world-2", None)).id == b.id


async def test_after_a_title_change_the_old_slug_still_finds_the_blog(blogs):
    blog = await blogs.create(ANN, blog_fields("First title"))
    edited = await blogs.update(blog.id, ANN, BlogChanges(title="Second title"),
                                blog.updated_at)
    assert edited.slug == "second-title"
    assert (await blogs.get_by_slug("first-title", None)).slug == "second-title"
    # Nobody else can take the old slug: it still names this blog.
    other = await blogs.create(BOB, blog_fields("First title"))
    assert other.slug == "first-title-2"


async def test_a_punctuation_fix_keeps_the_slug(blogs):
    blog = await blogs.create(ANN, blog_fields("Hello world"))
    edited = await blogs.update(blog.id, ANN, BlogChanges(title="Hello, world!"),
                                blog.updated_at)
    assert edited.slug == "hello-world"


async def test_a_slug_follows_the_visibility_of_its_blog(blogs, repo):
    draft = await blogs.create(ANN, blog_fields("Secret plans", status=BlogStatus.DRAFT))
    assert (await blogs.get_by_slug(draft.slug, ANN)).id == draft.id
    for viewer in (BOB, None):
        with pytest.raises(NotFoundError):
            await blogs.get_by_slug(draft.slug, viewer)
    public = await blogs.create(ANN, blog_fields("Open plans"))
    repo.blocks.add((ANN, BOB))
    with pytest.raises(NotFoundError):
        await blogs.get_by_slug(public.slug, BOB)


async def test_unknown_and_malformed_slugs_are_not_found(blogs):
    for slug in ("nothing-here", "", "a/b", "x" * 500, "a--b"):
        with pytest.raises(NotFoundError):
            await blogs.get_by_slug(slug, None)
