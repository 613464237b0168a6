"""Readers' responses to a blog: reactions (a like among them) and comments. Each needs a
blog the reader can see; a new one needs it published."""

from __future__ import annotations

from ..clock import Clock
from ..errors import ConflictError, DomainError, NotFoundError, PermissionDeniedError
from ..idempotency import IdempotencyKey
from .events import (
    BlogEvents,
    BlogReactionCleared,
    BlogReacted,
    CommentAdded,
    CommentDeleted,
)
from .model import MAX_COMMENT, Blog, BlogStatus, Comment, clean_text
from .ports import BlogRepository, CommentRepository
from .reactions import Reaction, ReactionCounts, ReactionState, Reactor
from .reading import Visible
from .versions import BlogVersions


def _published(blog: Blog) -> Blog:
    if blog.status is not BlogStatus.PUBLISHED:
        raise ConflictError("Drafts cannot be liked or commented on.",
                            code="blog_not_published")
    return blog


class BlogResponses:
    def __init__(self, *, blogs: BlogRepository, comments: CommentRepository,
                 visible: Visible, versions: BlogVersions, clock: Clock,
                 events: BlogEvents) -> None:
        self._blogs = blogs
        self._comments = comments
        self._visible = visible
        self._versions = versions
        self._clock = clock
        self._events = events

    async def _interactive(self, blog_id: int, user_id: int) -> Blog:
        return _published(await self._visible(blog_id, user_id))

    async def react(self, blog_id: int, user_id: int, kind: Reaction) -> ReactionState:
        """Set the caller's reaction, replacing another kind: needs a published blog the
        caller can see (the audience and blocks, as for reading it)."""
        blog = await self._interactive(blog_id, user_id)
        try:
            counts = await self._blogs.react(blog_id, user_id, kind)
        finally:
            self._versions.touched(blog_id)
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
            self._versions.touched(blog_id)
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
        return (await self.comment_once(blog_id, user_id, body, None))[0]

    async def comment_once(self, blog_id: int, user_id: int, body: str,
                           key: IdempotencyKey | None) -> tuple[Comment, bool]:
        """Comment, once per `key`: a retry with the key answers the comment the first
        attempt stored and False, notifying nobody again. The blog must still be visible
        to the commenter (else 404, as reading it is: a replay must not tell a blocked
        user the blog exists); the other checks are looked past for a stored comment,
        whose key is read only when a check refuses or the insert meets it."""
        blog = await self._visible(blog_id, user_id)
        try:
            _published(blog)
            body = clean_text(body, "body", MAX_COMMENT, required=True, multiline=True)
        except DomainError:
            if key is not None and (found := await self._comments.keyed(user_id, key)):
                return found, False
            raise
        try:
            comment, created = await self._comments.add(blog_id, user_id, body,
                                                        self._clock.now(), key)
        finally:
            self._versions.touched(blog_id)
        if created:
            await self._events.publish(
                CommentAdded(blog_id, blog.author.id, comment.id, user_id, body))
        return comment, created

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
            self._versions.touched(blog_id)  # the blog's page shows its comments

    async def deletable_comment(self, blog_id: int, comment_id: int,
                                user_id: int) -> tuple[Blog, Comment]:
        """The comment and its blog, when `user_id` may delete it; PermissionDeniedError
        otherwise (a page asking first refuses as the delete would)."""
        blog, comment = await self._comment_of(blog_id, comment_id, user_id)
        # The blog's author moderates their own page.
        if user_id not in (comment.author.id, blog.author.id):
            raise PermissionDeniedError(
                "Only the comment's author or the blog's author can delete it.",
                code="not_comment_author")
        return blog, comment

    async def delete_comment(self, blog_id: int, comment_id: int, user_id: int) -> None:
        blog, comment = await self.deletable_comment(blog_id, comment_id, user_id)
        try:
            notified = await self._comments.delete(comment_id)
        finally:
            self._versions.touched(blog_id)
        await self._events.publish(
            CommentDeleted(blog_id, blog.author.id, comment_id, comment.author.id,
                           tuple(notified)))
