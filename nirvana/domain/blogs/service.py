"""Blog use cases: write, read, feed, search, like, comment.

`Blogs` receives its ports; `tests/unit/test_blogs.py` runs it on in-memory fakes. The rules:

- only the author edits or deletes a blog (403 for anyone else who can see it);
- a draft is visible to its author only, and a blog is invisible to anyone with a block
  between them and its author (404, so neither state is revealed);
- an edit names the `updated_at` its writer last saw; a stale one is refused (409);
- likes and comments need a published blog the caller can see;
- a scheduled blog is its author's alone until its time; then `publish_due` (run by the
  server's publisher, `nirvana/blog_publisher.py`) publishes it, once, even if the server
  was down at that moment. Every first publication is announced (`events.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Callable

from ..accounts.standing import OpenGate, WriteGate
from .model import (
    MAX_COMMENT,
    Audience,
    Blog,
    BlogChanges,
    BlogFields,
    BlogFilter,
    BlogStats,
    BlogStatus,
    Comment,
    FeedPosition,
    Location,
    TagCount,
    apply_changes,
    clean_text,
    validate_fields,
    validate_filter,
)
from .events import (
    BlogEvents,
    BlogPublished,
    BlogReactionCleared,
    BlogReacted,
    CommentAdded,
    CommentDeleted,
    NoListeners,
)
from .ports import BlogRepository, CommentRepository
from .reactions import Reaction, ReactionCounts, ReactionState, Reactor
from .slugs import is_slug, slugify
from ..errors import ConflictError, NotFoundError, PermissionDeniedError, field_error
from ..clock import Clock

# GET /blog/bulk answers at most this many blogs (the newest): the seed's route promises
# "all published blogs", which on a big table would be an unbounded response.
BULK_CAP = 1000
ACTIVITY_SLOTS = 4096
ID_BLOCK = 1000  # see ids_version: a sitemap part of 2,000 ids spans two or three blocks
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class FeedPage:
    blogs: list[Blog]
    next: FeedPosition | None


class Blogs:
    def __init__(self, *, blogs: BlogRepository, comments: CommentRepository,
                 clock: Clock, write_gate: WriteGate = OpenGate(),
                 events: BlogEvents | None = None) -> None:
        self._blogs = blogs
        self._write_gate = write_gate
        self._comments = comments
        self._clock = clock
        self._events = events if events is not None else NoListeners()
        # Called when a schedule is set or moved, so a waiting publisher looks again.
        self.on_schedule: list[Callable[[], None]] = []
        # Bumped by every write that can change which blogs a list shows or in what order
        # (publish, edit, delete): caches of public lists compare against it.
        self.content_version = 0
        # Bumped by what changes one blog's counts or comments (reactions; comments added,
        # edited, hidden, deleted), in slots shared by blog id modulo their number: bounded
        # memory; a shared slot only costs a rebuild.
        self._activity = [0] * ACTIVITY_SLOTS
        # Bumped with any slot: caches of lists refresh their counts only once it moved.
        self.activity_version = 0
        # Writes per block of ID_BLOCK blog ids, and an epoch for writes whose blogs are not
        # known one by one: what a cache of blogs picked by id (a sitemap part) compares.
        self._written: dict[int, int] = {}
        self._epoch = 0

    def blog_version(self, blog_id: int) -> tuple[int, int]:
        """What a cached copy of one blog compares against: every write that can change
        what that blog's answer or page holds moves it (content_version, or its reactions
        and comments)."""
        return self.content_version, self._activity[blog_id % ACTIVITY_SLOTS]

    def ids_version(self, first_id: int, last_id: int) -> tuple[int, ...]:
        """What a cached answer about blogs first_id..last_id only (by id, whatever their
        dates) compares against: every publish, edit, audience change, hide and delete of
        a blog in that range moves it, and nothing outside it does."""
        return (self._epoch, *(self._written.get(block, 0)
                               for block in range(first_id // ID_BLOCK, last_id // ID_BLOCK + 1)))

    def _wrote(self, blog_id: int | None) -> None:
        # Every write that changes what blogs show bumps content_version; this also.
        self.content_version += 1
        if blog_id is None:
            self._epoch += 1
        else:
            block = blog_id // ID_BLOCK
            self._written[block] = self._written.get(block, 0) + 1

    def _touched(self, blog_id: int) -> None:
        self._activity[blog_id % ACTIVITY_SLOTS] += 1
        self.activity_version += 1

    def authors_removed(self) -> None:
        """Blogs went without a write through here (an account was deleted, its blogs with
        it): lists cached before now must not be served."""
        self._wrote(None)

    # -- reading ----------------------------------------------------------------------------

    async def _visible(self, blog_id: int, viewer_id: int | None) -> Blog:
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
        return await self._with_mine(await self._visible(blog_id, viewer_id), viewer_id)

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

    async def get_by_slug(self, slug: str, viewer_id: int | None) -> Blog:
        """The blog this slug names now or named before a title change; the caller
        compares `blog.slug` to what it asked for to send readers to the current one."""
        blog = await self._blogs.get_by_slug(slug) if is_slug(slug) else None
        if blog is None:
            raise NotFoundError("No such blog.", code="blog_not_found")
        return await self._with_mine(await self._visible(blog.id, viewer_id), viewer_id)

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
                await self._blogs.published_total())

    async def bulk(self, viewer_id: int | None) -> tuple[list[Blog], bool]:
        """The newest BULK_CAP published blogs, and whether older ones were left out."""
        rows = await self._blogs.page(viewer_id, 0, BULK_CAP + 1)
        return await self._all_with_mine(rows[:BULK_CAP], viewer_id), len(rows) > BULK_CAP

    async def search(self, viewer_id: int | None, terms: BlogFilter, page: int,
                     limit: int) -> tuple[list[Blog], bool]:
        """A page of matches and whether another page follows."""
        rows = await self._blogs.search(viewer_id, validate_filter(terms),
                                        (page - 1) * limit, limit + 1)
        return await self._all_with_mine(rows[:limit], viewer_id), len(rows) > limit

    async def stats(self, author_id: int) -> BlogStats:
        return await self._blogs.stats(author_id)

    async def public_pages(self, part: int, per_part: int) -> list[tuple[str, datetime]]:
        """The slug and last change of the blogs an anonymous reader may open among ids
        part*per_part+1 .. (part+1)*per_part: one part of the sitemap. Parts by id keep
        each one's content stable as new blogs arrive."""
        first = part * per_part + 1
        return await self._blogs.public_pages(first, first + per_part - 1)

    def public_pages_version(self, part: int, per_part: int) -> tuple[int, ...]:
        """What a cached copy of `public_pages(part, per_part)` compares against: only a
        write to a blog of that part moves it (a new post elsewhere does not)."""
        first = part * per_part + 1
        return self.ids_version(first, first + per_part - 1)

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

    # -- writing ----------------------------------------------------------------------------

    async def _announce(self, blog: Blog) -> None:
        assert blog.published_at is not None
        await self._events.publish(BlogPublished(
            blog.id, blog.author.id, blog.title, blog.slug, blog.published_at, blog.body,
            audience=blog.audience, summary=blog.summary, author=blog.author))

    def _scheduled(self) -> None:
        for wake in self.on_schedule:
            wake()

    def _publish_at(self, fields: BlogFields, now: datetime,
                    current: datetime | None = None) -> datetime:
        at = fields.publish_at if fields.publish_at is not None else current
        if at is None:
            raise field_error("published_at", "a scheduled blog needs the time to publish it",
                              "required")
        if at <= now:
            raise field_error("published_at", "must be in the future", "not_in_future")
        return at

    async def create(self, author_id: int, fields: BlogFields) -> Blog:
        fields = validate_fields(fields)
        now = self._clock.now()
        published: datetime | None = None
        if fields.status is BlogStatus.PUBLISHED:
            published = now
        elif fields.status is BlogStatus.SCHEDULED:
            published = self._publish_at(fields, now)
        if published:  # scheduling is publishing, later: the same gate
            await self._write_gate.check(author_id)
        blog = None
        try:
            blog = await self._blogs.create(author_id, fields, now, published,
                                            slugify(fields.title))
        finally:
            self._wrote(blog.id if blog is not None else None)
        if blog.status is BlogStatus.PUBLISHED:
            await self._announce(blog)
        elif blog.status is BlogStatus.SCHEDULED:
            self._scheduled()
        return blog

    async def publish_due(self) -> list[Blog]:
        """Publish every scheduled blog whose time has come (also those whose time passed
        while the server was down), each exactly once however many processes call this at
        once: the store's change from scheduled to published is the one that counts."""
        published = await self._blogs.publish_due(self._clock.now())
        for blog in published:
            self._wrote(blog.id)
        for blog in published:
            await self._announce(blog)
        return published

    async def next_scheduled(self) -> datetime | None:
        """When the next scheduled blog is due, if any."""
        return await self._blogs.next_scheduled()

    async def _own(self, blog_id: int, user_id: int) -> Blog:
        blog = await self._visible(blog_id, user_id)
        if blog.author.id != user_id:
            raise PermissionDeniedError("Only the author can change this blog.",
                                        code="not_blog_author")
        return blog

    async def update(self, blog_id: int, user_id: int, changes: BlogChanges,
                     expected_updated_at: datetime) -> Blog:
        blog = await self._own(blog_id, user_id)
        stale = ConflictError(
            "The blog changed since you loaded it; reload it and apply your edit again.",
            code="stale_update",
            details=[{"field": "updated_at", "code": "stale",
                      "message": f"the blog's updated_at is {blog.updated_at.isoformat()}"}],
        )
        if blog.updated_at != expected_updated_at:
            raise stale
        fields = validate_fields(apply_changes(blog, changes))
        # Strictly later than the version replaced, even within one clock tick, so two
        # versions never share an updated_at and a stale edit cannot pass for a fresh one.
        now = self._clock.now()
        updated_at = max(now, blog.updated_at + _TICK)
        # Never public yet: a draft never published, or a blog waiting for its time.
        first = blog.published_at is None or blog.status is BlogStatus.SCHEDULED
        if fields.status is BlogStatus.PUBLISHED:
            # First publication now; a re-publication keeps its date.
            published_at = updated_at if first else blog.published_at
        elif fields.status is BlogStatus.SCHEDULED:
            if not first:
                raise ConflictError("This blog was published already; it cannot be "
                                    "scheduled again.", code="already_published")
            published_at = self._publish_at(
                fields, now, blog.published_at if blog.status is BlogStatus.SCHEDULED else None)
        else:
            published_at = None if first else blog.published_at
        if first and fields.status is not BlogStatus.DRAFT:
            await self._write_gate.check(user_id)
        # A new title asks for a new slug; an edit that leaves the title's words alone keeps
        # the slug, so links do not churn over a fixed typo in punctuation.
        slug = slugify(fields.title)
        new_slug = slug if slug != slugify(blog.title) else None
        try:
            saved = await self._blogs.update(
                blog_id, fields, expected_updated_at=expected_updated_at,
                updated_at=updated_at, published_at=published_at, slug=new_slug)
        finally:
            self._wrote(blog_id)
        if saved is None:  # another edit won the race between our read and our write
            raise stale
        if first and saved.status is BlogStatus.PUBLISHED:
            await self._announce(saved)
        elif saved.status is BlogStatus.SCHEDULED:
            self._scheduled()
        return saved

    async def delete(self, blog_id: int, user_id: int) -> None:
        await self._own(blog_id, user_id)
        try:
            await self._blogs.delete(blog_id)
        finally:
            self._wrote(blog_id)

    # -- likes and comments -----------------------------------------------------------------

    async def _interactive(self, blog_id: int, user_id: int) -> Blog:
        blog = await self._visible(blog_id, user_id)
        if blog.status is not BlogStatus.PUBLISHED:
            raise ConflictError("Drafts cannot be liked or commented on.",
                                code="blog_not_published")
        return blog

    async def react(self, blog_id: int, user_id: int, kind: Reaction) -> ReactionState:
        """Set the caller's reaction, replacing another kind: needs a published blog the
        caller can see (the audience and blocks, as for reading it)."""
        blog = await self._interactive(blog_id, user_id)
        try:
            counts = await self._blogs.react(blog_id, user_id, kind)
        finally:
            self._touched(blog_id)
        # Also on a repeated or changed reaction: listeners count each reactor once.
        await self._events.publish(BlogReacted(blog_id, blog.author.id, user_id, kind))
        return ReactionState(counts, kind)

    async def clear_reaction(self, blog_id: int, user_id: int,
                             only: Reaction | None = None) -> ReactionState:
        """Take the caller's reaction back (with `only`, only a reaction of that kind:
        unliking leaves a `love` alone). Needs only visibility: taking it back from a blog
        that became a draft is fine."""
        blog = await self._visible(blog_id, user_id)
        try:
            counts, removed = await self._blogs.unreact(blog_id, user_id, only)
        finally:
            self._touched(blog_id)
        if removed is not None:
            await self._events.publish(BlogReactionCleared(blog_id, blog.author.id, user_id))
            mine = None
        else:
            mine = await self._blogs.reaction_of(blog_id, user_id)
        return ReactionState(counts, mine)

    async def like(self, blog_id: int, user_id: int) -> int:
        """The like routes: the reaction `like`; the likes count after it."""
        return (await self.react(blog_id, user_id, Reaction.LIKE)).counts.like

    async def unlike(self, blog_id: int, user_id: int) -> int:
        return (await self.clear_reaction(blog_id, user_id, Reaction.LIKE)).counts.like

    async def reaction_of(self, blog_id: int, user_id: int) -> Reaction | None:
        return await self._blogs.reaction_of(blog_id, user_id)

    async def reactors(self, blog_id: int, viewer_id: int | None, kind: Reaction | None,
                       page: int, limit: int) -> tuple[list[Reactor], ReactionCounts, bool]:
        """A page of who reacted (newest first) to a blog the viewer can see, the blog's
        counts, and whether another page follows."""
        blog = await self._visible(blog_id, viewer_id)
        rows = await self._blogs.reactors(blog_id, viewer_id, kind, (page - 1) * limit,
                                          limit + 1)
        return rows[:limit], blog.reactions, len(rows) > limit

    async def comment(self, blog_id: int, user_id: int, body: str) -> Comment:
        blog = await self._interactive(blog_id, user_id)
        body = clean_text(body, "body", MAX_COMMENT, required=True, multiline=True)
        try:
            comment = await self._comments.add(blog_id, user_id, body, self._clock.now())
        finally:
            self._touched(blog_id)
        await self._events.publish(
            CommentAdded(blog_id, blog.author.id, comment.id, user_id, body))
        return comment

    async def comments(self, blog_id: int, viewer_id: int | None, page: int,
                       limit: int) -> tuple[list[Comment], int]:
        """A page of comments, oldest first, and the blog's exact comment count."""
        blog = await self._visible(blog_id, viewer_id)
        rows = await self._comments.list(blog_id, (page - 1) * limit, limit)
        return rows, blog.comments_count

    async def _comment_of(self, blog_id: int, comment_id: int,
                          user_id: int | None) -> tuple[Blog, Comment]:
        blog = await self._visible(blog_id, user_id)
        comment = await self._comments.get(comment_id)
        if comment is None or comment.blog_id != blog_id or (
                comment.hidden and comment.author.id != user_id):
            raise NotFoundError("No such comment.", code="comment_not_found")
        return blog, comment

    async def get_comment(self, blog_id: int, comment_id: int,
                          viewer_id: int | None) -> Comment:
        """One comment of a blog the viewer can see."""
        return (await self._comment_of(blog_id, comment_id, viewer_id))[1]

    async def edit_comment(self, blog_id: int, comment_id: int, user_id: int,
                           body: str) -> Comment:
        _, comment = await self._comment_of(blog_id, comment_id, user_id)
        if comment.author.id != user_id:
            raise PermissionDeniedError("Only its author can edit a comment.",
                                        code="not_comment_author")
        body = clean_text(body, "body", MAX_COMMENT, required=True, multiline=True)
        try:
            return await self._comments.edit(comment_id, body, self._clock.now())
        finally:
            self._touched(blog_id)  # the blog's page shows its comments

    async def delete_comment(self, blog_id: int, comment_id: int, user_id: int) -> None:
        blog, comment = await self._comment_of(blog_id, comment_id, user_id)
        # The blog's author moderates their own page.
        if user_id not in (comment.author.id, blog.author.id):
            raise PermissionDeniedError(
                "Only the comment's author or the blog's author can delete it.",
                code="not_comment_author")
        try:
            await self._comments.delete(comment_id)
        finally:
            self._touched(blog_id)
        await self._events.publish(
            CommentDeleted(blog_id, blog.author.id, comment_id, comment.author.id))

    # -- moderation: domain/moderation calls these after checking the moderator's role ------

    async def set_hidden(self, blog_id: int, hidden: bool) -> None:
        """Hide a blog from everyone but its author, or show it again."""
        try:
            if not await self._blogs.set_hidden(blog_id, self._clock.now() if hidden else None):
                raise NotFoundError("No such blog.", code="blog_not_found")
        finally:
            self._wrote(blog_id)

    async def remove(self, blog_id: int) -> None:
        """Delete a blog whoever wrote it (its likes and comments go with it)."""
        if await self._blogs.get(blog_id) is None:
            raise NotFoundError("No such blog.", code="blog_not_found")
        try:
            await self._blogs.delete(blog_id)
        finally:
            self._wrote(blog_id)

    async def any_blog(self, blog_id: int) -> Blog | None:
        """A blog whatever its audience or state, for a moderator's review."""
        return await self._blogs.get(blog_id)

    async def any_comment(self, blog_id: int, comment_id: int) -> Comment | None:
        """A comment, hidden or not, for a moderator's review."""
        comment = await self._comments.get(comment_id)
        return comment if comment is not None and comment.blog_id == blog_id else None

    async def _any_comment(self, blog_id: int, comment_id: int) -> Comment:
        comment = await self.any_comment(blog_id, comment_id)
        if comment is None:
            raise NotFoundError("No such comment.", code="comment_not_found")
        return comment

    async def set_comment_hidden(self, blog_id: int, comment_id: int, hidden: bool) -> None:
        await self._any_comment(blog_id, comment_id)
        try:
            await self._comments.set_hidden(comment_id, self._clock.now() if hidden else None)
        finally:
            self._touched(blog_id)

    async def remove_comment(self, blog_id: int, comment_id: int) -> None:
        """Delete a comment whoever wrote it; its notifications are withdrawn as when its
        author deletes it."""
        comment = await self._any_comment(blog_id, comment_id)
        blog = await self._blogs.get(blog_id)
        try:
            await self._comments.delete(comment_id)
        finally:
            self._touched(blog_id)
        if blog is not None:
            await self._events.publish(
                CommentDeleted(blog_id, blog.author.id, comment_id, comment.author.id))
