"""Reading blogs: who may see one (`visible`), a blog, the feed, pages, search, a writer's
stats and drafts, tags, locations and the sitemap's parts."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Awaitable, Callable

from ..errors import NotFoundError
from .model import (
    Audience,
    Blog,
    BlogFilter,
    BlogStats,
    BlogStatus,
    FeedPosition,
    Location,
    TagCount,
    clean_text,
    validate_filter,
)
from .ports import BlogRepository
from .search import (
    SEARCH_CANDIDATES,
    Candidate,
    KeptByVersion,
    PublicMatchCache,
    is_public_view,
    merge,
)
from .slugs import is_slug

# GET /blog/bulk answers at most this many blogs (the newest): the seed's route promises
# "all published blogs", which on a big table would be an unbounded response.
BULK_CAP = 1000

# The blog `blog_id` if `viewer_id` (None: anonymous) may see it; NotFoundError otherwise.
Visible = Callable[[int, int | None], Awaitable[Blog]]


@dataclass(frozen=True, slots=True)
class FeedPage:
    blogs: list[Blog]
    next: FeedPosition | None


class BlogReads:
    def __init__(self, blogs: BlogRepository,
                 content_version: Callable[[], int] | None = None) -> None:
        self._blogs = blogs
        # A signed-in reader's text search merges kept public matches with their own
        # (search.py); without a content version to keep them by, the store answers it.
        self._content_version = content_version
        self._public_matches = PublicMatchCache(blogs.public_matches)
        # The blogs of anonymous feed pages, to tell a reader whose page is the same.
        self._public_feed = KeptByVersion(self._public_page)

    async def visible(self, blog_id: int, viewer_id: int | None) -> Blog:
        """The blog if the viewer may see it: its author always; anyone else only once it is
        published and not hidden, within its audience and without a block between them."""
        blog = await self._blogs.get(blog_id)
        if blog is None:
            raise NotFoundError("No such blog.", code="blog_not_found")
        if blog.author.id == viewer_id:
            return blog
        if blog.hidden or blog.status is not BlogStatus.PUBLISHED or (
            viewer_id is not None and await self._blogs.is_blocked(blog.author.id, viewer_id)
        ) or (blog.audience is not Audience.PUBLIC and (
            viewer_id is None
            or not await self._blogs.in_audience(blog.author.id, viewer_id, blog.audience))):
            # 404 as for a draft: outside the audience, the blog does not exist.
            raise NotFoundError("No such blog.", code="blog_not_found")
        return blog

    async def get(self, blog_id: int, viewer_id: int | None) -> Blog:
        return await self._with_mine(await self.visible(blog_id, viewer_id), viewer_id)

    async def _with_mine(self, blog: Blog, viewer_id: int | None) -> Blog:
        if viewer_id is None:
            return blog
        return replace(blog, my_reaction=await self._blogs.reaction_of(blog.id, viewer_id))

    async def _all_with_mine(self, blogs: list[Blog], viewer_id: int | None) -> list[Blog]:
        # One query for the page, not one per blog.
        if viewer_id is None or not blogs:
            return blogs
        mine = await self._blogs.reactions_of(viewer_id, [b.id for b in blogs])
        return [replace(b, my_reaction=mine.get(b.id)) for b in blogs]

    async def feed_as_anyone(self, viewer_id: int, after: FeedPosition | None,
                             limit: int) -> bool:
        """Whether this feed page (not `following`) is, for this reader, exactly an
        anonymous reader's: the same blogs in the same order and the same next cursor (no
        block with one of its authors, no non-public blog of theirs to see that would
        enter it) and no reaction of theirs on one. The route then answers the anonymous
        page kept in memory."""
        if self._content_version is None:
            return False
        shown = await self._public_feed.get((after, limit), self._content_version())
        # The page and the one blog after it, which decides the next cursor.
        last = shown[limit] if len(shown) > limit else None
        return not await self._blogs.differs_for(
            viewer_id, list(shown[:limit + 1]), after,
            FeedPosition(last.published_at, last.id) if last is not None else None)

    async def _public_page(self, key: tuple[FeedPosition | None, int],
                           _: int) -> list[Candidate]:
        after, limit = key
        rows = await self._blogs.feed(None, after, limit + 1)
        return [Candidate(b.id, b.author.id, b.published_at, 0.0) for b in rows
                if b.published_at is not None]

    async def sees_as_anyone(self, blog_id: int, viewer_id: int) -> bool:
        """For a blog an anonymous reader may see (the caller knows it is public): whether
        this reader sees exactly what an anonymous reader sees, with no block between them
        and its author and no reaction of theirs on it. One read, where `get` takes three."""
        blocked, mine = await self._blogs.reader_of(blog_id, viewer_id)
        return not blocked and mine is None

    async def get_by_slug(self, slug: str, viewer_id: int | None) -> Blog:
        """The blog this slug names now or named before a title change; the caller
        compares `blog.slug` to what it asked for to send readers to the current one."""
        blog = await self._blogs.get_by_slug(slug) if is_slug(slug) else None
        if blog is None:
            raise NotFoundError("No such blog.", code="blog_not_found")
        return await self._with_mine(await self.visible(blog.id, viewer_id), viewer_id)

    async def feed(self, viewer_id: int | None, after: FeedPosition | None, limit: int,
                   *, following: bool = False) -> FeedPage:
        # One row more than asked tells whether there is a next page without a count.
        rows = await self._blogs.feed(viewer_id, after, limit + 1,
                                      following_of=viewer_id if following else None)
        page = await self._all_with_mine(rows[:limit], viewer_id)
        last = page[-1] if len(rows) > limit else None
        return FeedPage(page, FeedPosition(last.published_at, last.id)
                        if last is not None and last.published_at is not None else None)

    async def page(self, viewer_id: int | None, page: int, limit: int) -> tuple[list[Blog], int]:
        blogs = await self._blogs.page(viewer_id, (page - 1) * limit, limit)
        return (await self._all_with_mine(blogs, viewer_id),
                await self._blogs.total_for(viewer_id))

    async def bulk(self, viewer_id: int | None) -> tuple[list[Blog], bool]:
        """The newest BULK_CAP published blogs, and whether older ones were left out."""
        rows = await self._blogs.page(viewer_id, 0, BULK_CAP + 1)
        return await self._all_with_mine(rows[:BULK_CAP], viewer_id), len(rows) > BULK_CAP

    async def search(self, viewer_id: int | None, terms: BlogFilter, page: int,
                     limit: int) -> tuple[list[Blog], bool]:
        """A page of matches and whether another page follows."""
        found = await self._search(viewer_id, terms, page, limit, public_ok=False)
        assert found is not None
        return found

    async def search_or_public(self, viewer_id: int, terms: BlogFilter, page: int,
                               limit: int) -> tuple[list[Blog], bool] | None:
        """`search` for a signed-in reader, or None when their page is exactly an anonymous
        reader's: the same blogs in the same order (nothing of their circle's audiences
        matches, no match is by an author blocked either way) and none carries a reaction
        of theirs. The route then answers the anonymous page kept in memory."""
        return await self._search(viewer_id, terms, page, limit, public_ok=True)

    async def _search(self, viewer_id: int | None, terms: BlogFilter, page: int, limit: int,
                      public_ok: bool) -> tuple[list[Blog], bool] | None:
        terms = validate_filter(terms)
        offset = (page - 1) * limit
        if viewer_id is not None and terms.q is not None and self._content_version is not None:
            # The public matches kept, the reader's own asked for (search.py).
            public = await self._public_matches.get(terms, self._content_version())
            # The anonymous page's blogs: whether the reader reacted to one comes back
            # with their matches, for when their page turns out to be that one.
            page_ids = [c.id for c in public.ranked[offset:offset + limit]]
            blocked, own, reacted = await self._blogs.reader_matches(
                viewer_id, terms, SEARCH_CANDIDATES, page_ids)
            if public_ok and not reacted and is_public_view(public, blocked, own):
                return None
            ranked = merge(public, blocked, own)
            if ranked is not None:
                ids = [c.id for c in ranked[offset:offset + limit + 1]]
                # Read with the reader's visibility applied again: a blog changed since its
                # match was kept is left out rather than shown past its new audience.
                shown = {b.id: b for b in await self._blogs.visible_by_ids(viewer_id, ids)}
                rows = [shown[i] for i in ids if i in shown]
                return await self._all_with_mine(rows[:limit], viewer_id), len(rows) > limit
            # The reader's blocks reach past the kept matches: the store's one query.
        rows = await self._blogs.search(viewer_id, terms, offset, limit + 1)
        return await self._all_with_mine(rows[:limit], viewer_id), len(rows) > limit

    async def stats(self, author_id: int) -> BlogStats:
        return await self._blogs.stats(author_id)

    async def public_pages(self, part: int, per_part: int) -> list[tuple[str, datetime]]:
        """The slug and last change of the blogs an anonymous reader may open among ids
        part*per_part+1 .. (part+1)*per_part: one part of the sitemap. Parts by id keep
        each one's content stable as new blogs arrive."""
        first = part * per_part + 1
        return await self._blogs.public_pages(first, first + per_part - 1)

    async def sitemap_parts(self, per_part: int) -> int:
        """How many sitemap parts cover every blog id given out so far (at least one)."""
        return max(1, -(-await self._blogs.last_id() // per_part))

    async def drafts(self, author_id: int, limit: int) -> list[Blog]:
        """The caller's own drafts (nobody else ever sees them), last edited first."""
        return await self._blogs.drafts(author_id, limit)

    async def tags(self, limit: int) -> list[TagCount]:
        """Tags with their number of blogs, most used first. Counted over public blogs
        only, the same for every reader: a tag used only on friends-only blogs stays
        unknown to strangers. A tag's own page (search by tag) shows each reader what
        they may see."""
        return await self._blogs.tags(limit)

    async def locations(self, prefix: str, limit: int) -> list[Location]:
        prefix = " ".join(clean_text(prefix, "q", 100).split())
        return await self._blogs.locations(prefix, limit)
