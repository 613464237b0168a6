"""The blogs service the app uses: one object composed of the blog use cases' parts.

`BlogReads` (reading.py) decides who may see a blog and reads blogs, feeds and search;
`BlogWriting` (writing.py) creates, edits, deletes and schedules; `BlogResponses`
(responses.py) holds reactions and comments; `BlogModeration` (moderation.py) what a
moderator does. They share one visibility rule and the versions caches compare against
(versions.py), built here. `tests/unit/test_blogs.py` runs them on in-memory fakes. The rules:

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

from ..accounts.standing import OpenGate, WriteGate
from ..clock import Clock
from .events import BlogEvents, NoListeners
from .moderation import BlogModeration
from .ports import BlogRepository, CommentRepository
from .reading import BlogReads
from .responses import BlogResponses
from .versions import BlogVersions
from .writing import BlogWriting


class Blogs:
    def __init__(self, *, blogs: BlogRepository, comments: CommentRepository,
                 clock: Clock, write_gate: WriteGate = OpenGate(),
                 events: BlogEvents | None = None) -> None:
        events = events if events is not None else NoListeners()
        # Public for the wiring of several instances, which keeps them in step.
        self.versions = self._versions = versions = BlogVersions()
        reads = BlogReads(blogs, lambda: versions.content)
        visible = reads.visible
        writing = BlogWriting(blogs=blogs, visible=visible, versions=versions, clock=clock,
                              write_gate=write_gate, events=events)
        responses = BlogResponses(blogs=blogs, comments=comments, visible=visible,
                                  versions=versions, clock=clock, events=events)
        moderation = BlogModeration(blogs=blogs, comments=comments, versions=versions,
                                    clock=clock, events=events)
        # Called when a schedule is set or moved, so a waiting publisher looks again.
        self.on_schedule = writing.on_schedule
        self.blog_version = versions.of_blog
        self.ids_version = versions.of_ids
        # The use cases each part holds, served as they are.
        self.get = reads.get
        self.sees_as_anyone = reads.sees_as_anyone
        self.get_by_slug = reads.get_by_slug
        self.feed = reads.feed
        self.feed_as_anyone = reads.feed_as_anyone
        self.page = reads.page
        self.bulk = reads.bulk
        self.search = reads.search
        self.search_or_public = reads.search_or_public
        self.stats = reads.stats
        self.public_pages = reads.public_pages
        self.sitemap_parts = reads.sitemap_parts
        self.drafts = reads.drafts
        self.tags = reads.tags
        self.locations = reads.locations
        self.create = writing.create
        self.create_once = writing.create_once
        self.publish_due = writing.publish_due
        self.next_scheduled = writing.next_scheduled
        self.update = writing.update
        self.delete = writing.delete
        self.react = responses.react
        self.clear_reaction = responses.clear_reaction
        self.like = responses.like
        self.unlike = responses.unlike
        self.reaction_of = responses.reaction_of
        self.reactors = responses.reactors
        self.comment = responses.comment
        self.comment_once = responses.comment_once
        self.comments = responses.comments
        self.get_comment = responses.get_comment
        self.edit_comment = responses.edit_comment
        self.deletable_comment = responses.deletable_comment
        self.delete_comment = responses.delete_comment
        self.set_hidden = moderation.set_hidden
        self.remove = moderation.remove
        self.any_blog = moderation.any_blog
        self.any_comment = moderation.any_comment
        self.set_comment_hidden = moderation.set_comment_hidden
        self.remove_comment = moderation.remove_comment

    @property
    def content_version(self) -> int:
        """Moved by every write that can change which blogs a list shows or in what order
        (publish, edit, delete): caches of public lists compare against it."""
        return self._versions.content

    @property
    def activity_version(self) -> int:
        """Moved by every reaction and comment: caches of lists refresh their counts only
        once it moved."""
        return self._versions.activity

    def public_pages_version(self, part: int, per_part: int) -> tuple[int, ...]:
        """What a cached copy of `public_pages(part, per_part)` compares against: only a
        write to a blog of that part moves it (a new post elsewhere does not)."""
        first = part * per_part + 1
        return self._versions.of_ids(first, first + per_part - 1)

    def authors_removed(self) -> None:
        """Blogs went without a write through here (an account was deleted, its blogs with
        it): lists cached before now must not be served."""
        self._versions.wrote(None)
