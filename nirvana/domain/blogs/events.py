"""What blogs announce to other features: domain events and their port.

A rule of another feature (a like notifies the blog's author, a new blog its author's
followers) hangs on these events, wired in `bootstrap.py`, so no route has to remember it.
Each event is published after its change is stored, and carries what a listener needs so it
need not read the blog again.

A blog is announced (`BlogPublished`) when it becomes public for the first time: written as
published, a draft published, or a scheduled blog reaching its time (whoever does it: a route,
a page, the scheduled publisher).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from .authors import Author
from .model import Audience
from .reactions import Reaction


@dataclass(frozen=True, slots=True)
class BlogPublished:
    """A blog became public. Sent after the change is committed, once per blog: a blog
    unpublished and published again keeps its first `published_at` and is not announced
    again."""

    blog_id: int
    author_id: int
    title: str
    slug: str
    published_at: datetime
    body: str  # for mentions: listeners need not read the blog again
    # Who may read it, and what a live "new post" shows of it and its author.
    audience: Audience = Audience.PUBLIC
    summary: str = ""
    # What a listener shows of the author; not part of what the event is (compare=False).
    author: Author | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class BlogReacted:
    """Someone set a reaction (a like is the kind `like`), also again or to another kind:
    listeners count each reactor once."""

    blog_id: int
    author_id: int
    reactor_id: int
    kind: Reaction = Reaction.LIKE


@dataclass(frozen=True, slots=True)
class BlogReactionCleared:
    """Someone took their reaction back (sent only when there was one to take)."""

    blog_id: int
    author_id: int
    reactor_id: int


@dataclass(frozen=True, slots=True)
class CommentAdded:
    blog_id: int
    blog_author_id: int
    comment_id: int
    commenter_id: int
    body: str


@dataclass(frozen=True, slots=True)
class CommentDeleted:
    blog_id: int
    blog_author_id: int
    comment_id: int
    commenter_id: int
    notified: tuple[int, ...]  # whose unread notifications of it went with it


@dataclass(frozen=True, slots=True)
class BlogReadersChanged:
    """Who may read a blog changed in place: a moderator hid or showed it, or its author
    changed its audience or unpublished or republished it (not its first publication, which
    is `BlogPublished`)."""

    blog_id: int


BlogEvent = (BlogPublished | BlogReacted | BlogReactionCleared | CommentAdded | CommentDeleted
             | BlogReadersChanged)


class BlogEvents(Protocol):
    async def publish(self, event: BlogEvent) -> None:
        """Awaited after the change is stored; never raises (a listener's failure is the
        listener's, and the change stands)."""
        ...


class NoListeners:
    """For blogs nobody listens to (unit tests of the rules alone)."""

    async def publish(self, event: BlogEvent) -> None:
        pass
