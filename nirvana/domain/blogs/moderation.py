"""What a moderator does to blogs and comments: domain/moderation calls these after checking
the moderator's role. A moderator sees and acts whatever the audience or state."""

from __future__ import annotations

from ..clock import Clock
from ..errors import NotFoundError
from .events import BlogEvents, BlogReadersChanged, CommentDeleted
from .model import Blog, Comment
from .ports import BlogRepository, CommentRepository
from .versions import BlogVersions


class BlogModeration:
    def __init__(self, *, blogs: BlogRepository, comments: CommentRepository,
                 versions: BlogVersions, clock: Clock, events: BlogEvents) -> None:
        self._blogs = blogs
        self._comments = comments
        self._versions = versions
        self._clock = clock
        self._events = events

    async def set_hidden(self, blog_id: int, hidden: bool) -> None:
        """Hide a blog from everyone but its author, or show it again."""
        try:
            if not await self._blogs.set_hidden(blog_id, self._clock.now() if hidden else None):
                raise NotFoundError("No such blog.", code="blog_not_found")
        finally:
            self._versions.wrote(blog_id)
        await self._events.publish(BlogReadersChanged(blog_id))

    async def remove(self, blog_id: int) -> None:
        """Delete a blog whoever wrote it (its likes and comments go with it)."""
        if await self._blogs.get(blog_id) is None:
            raise NotFoundError("No such blog.", code="blog_not_found")
        try:
            await self._blogs.delete(blog_id)
        finally:
            self._versions.wrote(blog_id)

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
            self._versions.touched(blog_id)

    async def remove_comment(self, blog_id: int, comment_id: int) -> None:
        """Delete a comment whoever wrote it; its notifications are withdrawn as when its
        author deletes it."""
        comment = await self._any_comment(blog_id, comment_id)
        blog = await self._blogs.get(blog_id)
        try:
            notified = await self._comments.delete(comment_id)
        finally:
            self._versions.touched(blog_id)
        if blog is not None:
            await self._events.publish(
                CommentDeleted(blog_id, blog.author.id, comment_id, comment.author.id,
                               tuple(notified)))
