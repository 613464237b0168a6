"""The ports of the blogs domain. PostgreSQL adapters: `nirvana/storage/postgres/blogs.py`
(composed of the `blog_*.py` beside it) and `blog_comments.py`; in-memory fakes for unit
tests: `tests/support/fakes_blogs.py`.

Single-blog reads return the blog whatever its status: `Blogs` decides who may see it. List
reads (feed, pages, search, bulk) cannot be filtered after the fact without breaking their
page sizes, so they take the viewer and return only blogs that viewer may see: published,
in an audience the viewer belongs to (or by the viewer), and by an author with no block
between them and the viewer in either direction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ..idempotency import IdempotencyKey

from .model import (
    Audience,
    Blog,
    BlogFields,
    BlogFilter,
    BlogStats,
    Comment,
    FeedPosition,
    Location,
    TagCount,
)
from .reactions import Reaction, ReactionCounts, Reactor
from .search import Candidate


class BlogRepository(Protocol):
    async def create(self, author_id: int, fields: BlogFields, now: datetime,
                     published_at: datetime | None, slug: str,
                     key: IdempotencyKey | None = None) -> tuple[Blog, bool]:
        """Store a new blog and answer it with True; its place becomes a Location, created
        on first use. Its slug is `slug` for the first blog that asks for it, then `slug-N`, N
        the next number after the highest given for `slug`, stepping over any slug a blog
        holds (its own title's, or an old one). With a `key` this author already stored a
        blog under, store nothing and answer that blog with False, or
        IdempotencyKeyReusedError if it was made by another request; the key is stored in
        the same insert as the blog. Concurrent creates with one key store one blog, and a
        replay is no error in the store."""
        ...

    async def keyed(self, author_id: int, key: IdempotencyKey) -> Blog | None:
        """The blog this author stored under `key`, if any; IdempotencyKeyReusedError if
        another request stored it."""
        ...

    async def get(self, blog_id: int) -> Blog | None: ...

    async def get_by_slug(self, slug: str) -> Blog | None:
        """The blog whose slug this is or was: a blog keeps all its slugs until it is deleted."""
        ...

    async def update(self, blog_id: int, fields: BlogFields, *, expected_updated_at: datetime,
                     updated_at: datetime, published_at: datetime | None,
                     slug: str | None = None) -> Blog | None:
        """Write all fields if the blog's updated_at is still `expected_updated_at`;
        None when it is not (someone saved in between) or the blog is gone. With `slug`,
        the blog takes a new slug as `create` does; its old ones keep finding it."""
        ...

    async def delete(self, blog_id: int) -> None: ...

    async def set_hidden(self, blog_id: int, hidden_at: datetime | None) -> bool:
        """Hide the blog (a time) or show it again (None); False when there is no such blog."""
        ...

    async def publish_due(self, now: datetime) -> list[Blog]:
        """Turn every scheduled blog with published_at <= now into a published one, in one
        atomic step, and return those this call published (none that another caller did).
        Each gets a strictly later updated_at, so an edit loaded before is refused as stale."""
        ...

    async def next_scheduled(self) -> datetime | None:
        """The earliest published_at among scheduled blogs."""
        ...

    async def is_blocked(self, user_a: int, user_b: int) -> bool:
        """True when either user blocks the other."""
        ...

    async def in_audience(self, author_id: int, viewer_id: int, audience: Audience) -> bool:
        """Whether the viewer is in this audience of the author's: a friend for FRIENDS, a
        follower or friend for FOLLOWERS (anyone for PUBLIC). Blocks are not its concern."""
        ...

    async def feed(self, viewer_id: int | None, after: FeedPosition | None, limit: int,
                   following_of: int | None = None) -> list[Blog]:
        """Published blogs newest first (published_at, id), strictly after `after`; with
        `following_of`, only by people that user follows or is friends with."""
        ...

    async def page(self, viewer_id: int | None, offset: int, limit: int) -> list[Blog]: ...

    async def total_for(self, viewer_id: int | None) -> int:
        """How many published blogs `viewer_id` may read (anonymous: None), as `page`
        lists them: in their audience, not hidden, no block either way."""
        ...

    async def search(self, viewer_id: int | None, terms: BlogFilter, offset: int,
                     limit: int) -> list[Blog]:
        """Matching blogs, best rank first when `terms.q` is set, else newest first."""
        ...

    async def public_matches(self, terms: BlogFilter, limit: int) -> list[Candidate]:
        """The newest `limit` public published (not hidden) blogs matching `terms` (with
        `q`), newest first, each with its rank for `q` as `search` ranks."""
        ...

    async def reader_matches(self, viewer_id: int, terms: BlogFilter, limit: int,
                             page_ids: list[int]) -> tuple[frozenset[int], list[Candidate], bool]:
        """For a signed-in reader, in one read: the authors with a block between them and
        the reader; the newest `limit` published, not hidden, non-public blogs matching
        `terms` that the reader's audience admits (theirs, their friends', followers-only
        ones of people they follow) by authors not blocked either way; and whether the
        reader reacted to any of `page_ids`."""
        ...

    async def differs_for(self, viewer_id: int, shown: list[Candidate], after: FeedPosition | None,
                          last: FeedPosition | None) -> bool:
        """Whether the reader's view of these public blogs (a feed page, newest first, read
        after `after`) may differ from an anonymous reader's: a block with one of their
        authors (either way), a reaction of theirs on one, or a non-public blog they may
        see, of the authors they are friends with or follow or theirs, newer than `last`
        (None: any after `after`). One read; True may be said of a view that is the same."""
        ...

    async def reader_of(self, blog_id: int, viewer_id: int) -> tuple[bool, Reaction | None]:
        """Whether a block stands between the reader and the blog's author (either way),
        and the reader's reaction to the blog: one read."""
        ...

    async def visible_by_ids(self, viewer_id: int, ids: list[int]) -> list[Blog]:
        """Those of these blogs the reader may see in a list (published, not hidden, in
        their audience, no block), in any order."""
        ...

    async def stats(self, author_id: int) -> BlogStats: ...

    async def public_pages(self, first_id: int, last_id: int) -> list[tuple[str, datetime]]:
        """(slug, updated_at) of the public published blogs with ids in first_id..last_id,
        by id: one part of the sitemap."""
        ...

    async def last_id(self) -> int:
        """The highest blog id ever given out (0 when none): how far the sitemap reaches."""
        ...

    async def drafts(self, author_id: int, limit: int) -> list[Blog]:
        """The author's drafts, last edited first."""
        ...

    async def reaction_of(self, blog_id: int, user_id: int) -> Reaction | None:
        """The user's reaction to the blog, if any."""
        ...

    async def reactions_of(self, user_id: int, blog_ids: list[int]) -> dict[int, Reaction]:
        """The user's reactions to those of the blogs they reacted to."""
        ...

    async def react(self, blog_id: int, user_id: int, kind: Reaction) -> ReactionCounts:
        """Set the user's reaction (replacing another kind; the same kind again changes
        nothing); the blog's counts after it. NotFoundError if the blog is gone."""
        ...

    async def unreact(self, blog_id: int, user_id: int,
                      only: Reaction | None = None) -> tuple[ReactionCounts, Reaction | None]:
        """Clear the user's reaction (with `only`, only if it is of that kind); the counts
        after it and the kind removed (None if nothing was)."""
        ...

    async def reactors(self, blog_id: int, viewer_id: int | None, kind: Reaction | None,
                       offset: int, limit: int) -> list[Reactor]:
        """Who reacted (of `kind`, or any), newest first, leaving out anyone with a block
        between them and the viewer."""
        ...

    async def locations(self, prefix: str, limit: int) -> list[Location]: ...

    async def tags(self, limit: int) -> list[TagCount]:
        """The most used tags among public published blogs, most used first (then by name);
        tags no such blog carries are left out."""
        ...


class CommentRepository(Protocol):
    async def add(self, blog_id: int, author_id: int, body: str, now: datetime,
                  key: IdempotencyKey | None = None) -> tuple[Comment, bool]:
        """Store a new comment and answer it with True; with a `key` as in
        BlogRepository.create, the comment already stored under it and False."""
        ...

    async def keyed(self, author_id: int, key: IdempotencyKey) -> Comment | None:
        """As BlogRepository.keyed, for comments."""
        ...

    async def get(self, comment_id: int) -> Comment | None: ...

    async def edit(self, comment_id: int, body: str, now: datetime) -> Comment: ...

    async def delete(self, comment_id: int) -> list[int]:
        """Delete the comment, and with it the notifications about it: the users whose
        unread ones went (each told their count: CommentDeleted.notified)."""
        ...

    async def set_hidden(self, comment_id: int, hidden_at: datetime | None) -> bool: ...

    async def list(self, blog_id: int, offset: int, limit: int) -> list[Comment]:
        """Oldest first, so pages do not shift as new comments arrive at the end."""
        ...
