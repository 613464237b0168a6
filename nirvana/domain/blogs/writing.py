"""Writing blogs: create, edit, delete, schedule, and publishing what is due; every first
publication is announced (`events.py`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable

from ..accounts.standing import WriteGate
from ..clock import Clock
from ..errors import ConflictError, DomainError, PermissionDeniedError, field_error
from ..idempotency import IdempotencyKey
from .events import BlogEvents, BlogPublished, BlogReadersChanged
from .model import Blog, BlogChanges, BlogFields, BlogStatus, validate_edit, validate_fields
from .ports import BlogRepository
from .reading import Visible
from .slugs import slugify
from .versions import BlogVersions

_TICK = timedelta(microseconds=1)


class BlogWriting:
    def __init__(self, *, blogs: BlogRepository, visible: Visible, versions: BlogVersions,
                 clock: Clock, write_gate: WriteGate, events: BlogEvents) -> None:
        self._blogs = blogs
        self._visible = visible
        self._versions = versions
        self._clock = clock
        self._write_gate = write_gate
        self._events = events
        # Called when a schedule is set or moved, so a waiting publisher looks again.
        self.on_schedule: list[Callable[[], None]] = []

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
        return (await self.create_once(author_id, fields, None))[0]

    async def create_once(self, author_id: int, fields: BlogFields,
                          key: IdempotencyKey | None) -> tuple[Blog, bool]:
        """Create a blog, once per `key`: a retry with the key answers the blog the first
        attempt stored and False, announcing nothing again. The store looks the key up
        before its insert; it is read here too when a check refuses (a retry of a scheduled
        blog whose time has since passed, a rule changed by a deploy: the stored blog still
        answers)."""
        try:
            fields = validate_fields(fields)
            now = self._clock.now()
            published: datetime | None = None
            if fields.status is BlogStatus.PUBLISHED:
                published = now
            elif fields.status is BlogStatus.SCHEDULED:
                published = self._publish_at(fields, now)
            if published:  # scheduling is publishing, later: the same gate
                await self._write_gate.check(author_id)
        except DomainError:
            if key is not None and (found := await self._blogs.keyed(author_id, key)):
                return found, False
            raise
        blog = None
        try:
            blog, created = await self._blogs.create(author_id, fields, now, published,
                                                     slugify(fields.title), key)
        finally:
            self._versions.wrote(blog.id if blog is not None else None)
        if not created:
            return blog, False
        if blog.status is BlogStatus.PUBLISHED:
            await self._announce(blog)
        elif blog.status is BlogStatus.SCHEDULED:
            self._scheduled()
        return blog, True

    async def publish_due(self) -> list[Blog]:
        """Publish every scheduled blog whose time has come (also those whose time passed
        while the server was down), each exactly once however many processes call this at
        once: the store's change from scheduled to published is the one that counts."""
        published = await self._blogs.publish_due(self._clock.now())
        for blog in published:
            self._versions.wrote(blog.id)
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
        fields = validate_edit(blog, changes)
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
            self._versions.wrote(blog_id)
        if saved is None:  # another edit won the race between our read and our write
            raise stale
        if first and saved.status is BlogStatus.PUBLISHED:
            await self._announce(saved)
        elif not first and (saved.audience, saved.status) != (blog.audience, blog.status):
            await self._events.publish(BlogReadersChanged(blog_id))
        elif saved.status is BlogStatus.SCHEDULED:
            self._scheduled()
        return saved

    async def delete(self, blog_id: int, user_id: int) -> None:
        await self._own(blog_id, user_id)
        try:
            await self._blogs.delete(blog_id)
        finally:
            self._versions.wrote(blog_id)
