"""In-memory fakes of the blogs ports, for the domain's unit tests."""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import replace
from datetime import datetime, timedelta

from nirvana.domain.blogs.authors import Author
from nirvana.domain.blogs.model import (
    Audience,
    Blog,
    BlogFields,
    BlogFilter,
    BlogStats,
    BlogStatus,
    Comment,
    FeedPosition,
    Location,
    Place,
    TagCount,
)
from nirvana.domain.blogs.reactions import Reaction, ReactionCounts, Reactor
from nirvana.domain.blogs.search import SEARCH_CANDIDATES, Candidate
from nirvana.domain.idempotency import IdempotencyKey, replayed_or_refused


def blog_fields(title: str = "Title", **over) -> BlogFields:
    """A published blog's fields for the unit tests; `over` changes any of them."""
    base = dict(title=title, body="Body", summary="", header_image=None, images=(), tags=(),
                place=None, status=BlogStatus.PUBLISHED)
    return BlogFields(**{**base, **over})


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


class FakeBlogRepository:
    def __init__(self) -> None:
        self.blogs: dict[int, Blog] = {}
        self.reactions: dict[tuple[int, int], tuple[Reaction, datetime]] = {}
        self.blocks: set[tuple[int, int]] = set()
        self.follows: set[tuple[int, int]] = set()  # (follower, followee)
        self.friends: set[tuple[int, int]] = set()  # both directions, as in PostgreSQL
        self.places: dict[tuple[str, str], Location] = {}
        self.keys: dict[tuple[int, str], tuple[int, str]] = {}  # (author, key) -> (id, print)
        self.slugs: dict[str, int] = {}  # every slug ever held -> its blog, as in PostgreSQL
        self.slug_counters: dict[str, int] = {}  # base -> highest number given (step 0028)
        self.calls: list[str] = []  # the reads a test counts
        self._ids = itertools.count(1)

    def _claim(self, blog_id: int, base: str) -> str:
        last = self.slug_counters.get(base, 1)
        own = [s for s, b in self.slugs.items() if b == blog_id and (s == base or (
            s.startswith(f"{base}-") and re.fullmatch(r"[1-9][0-9]{0,8}", s[len(base) + 1:])
            and 2 <= int(s[len(base) + 1:]) <= last))]
        if own:
            return min(own, key=lambda s: (len(s), s))
        if base not in self.slug_counters and self.slugs.setdefault(base, blog_id) == blog_id:
            return base
        n = self.slug_counters.get(base, 1) + 1
        candidate = f"{base}-{n}"
        while self.slugs.setdefault(candidate, blog_id) != blog_id:
            n += 1
            candidate = f"{base}-{n}"
        self.slug_counters[base] = n
        return candidate

    def _location(self, place: Place | None) -> Location | None:
        if place is None:
            return None
        key = (fold(place.city), fold(place.country))
        if key not in self.places:
            self.places[key] = Location(len(self.places) + 1, place.city, place.country)
        return self.places[key]

    async def create(self, author_id: int, fields: BlogFields, now: datetime,
                     published_at: datetime | None, slug: str,
                     key: IdempotencyKey | None = None) -> tuple[Blog, bool]:
        if key is not None and (found := await self.keyed(author_id, key)):
            return found, False
        blog_id = next(self._ids)
        blog = Blog(blog_id, Author(author_id, f"user{author_id}", "U", None),
                    fields.title, fields.body, fields.summary, fields.header_image,
                    fields.images, fields.tags, self._location(fields.place), fields.status,
                    now, now, published_at, 0, 0, self._claim(blog_id, slug), fields.audience)
        self.blogs[blog.id] = blog
        if key is not None:
            self.keys[author_id, key.key] = (blog.id, key.fingerprint)
        return blog, True

    async def keyed(self, author_id: int, key: IdempotencyKey) -> Blog | None:
        if (author_id, key.key) not in self.keys:
            return None
        blog_id, fingerprint = self.keys[author_id, key.key]
        replayed_or_refused(key, fingerprint)
        return self.blogs.get(blog_id)

    async def get(self, blog_id: int) -> Blog | None:
        return self.blogs.get(blog_id)

    async def get_by_slug(self, slug: str) -> Blog | None:
        blog_id = self.slugs.get(slug)
        return self.blogs.get(blog_id) if blog_id is not None else None

    async def update(self, blog_id: int, fields: BlogFields, *, expected_updated_at: datetime,
                     updated_at: datetime, published_at: datetime | None,
                     slug: str | None = None) -> Blog | None:
        blog = self.blogs.get(blog_id)
        if blog is None or blog.updated_at != expected_updated_at:
            return None
        if slug is not None:
            blog = replace(blog, slug=self._claim(blog_id, slug))
        blog = replace(blog, title=fields.title, body=fields.body, summary=fields.summary,
                       header_image=fields.header_image, images=fields.images,
                       tags=fields.tags, location=self._location(fields.place),
                       status=fields.status, updated_at=updated_at, published_at=published_at,
                       audience=fields.audience)
        self.blogs[blog_id] = blog
        return blog

    async def delete(self, blog_id: int) -> None:
        self.blogs.pop(blog_id, None)
        self.slugs = {s: b for s, b in self.slugs.items() if b != blog_id}
        self.reactions = {k: v for k, v in self.reactions.items() if k[0] != blog_id}

    async def publish_due(self, now: datetime) -> list[Blog]:
        due = sorted((b for b in self.blogs.values()
                      if b.status is BlogStatus.SCHEDULED and b.published_at <= now),
                     key=lambda b: (b.published_at, b.id))
        for blog in due:
            self.blogs[blog.id] = replace(
                blog, status=BlogStatus.PUBLISHED,
                updated_at=max(now, blog.updated_at + timedelta(microseconds=1)))
        return [self.blogs[b.id] for b in due]

    async def next_scheduled(self) -> datetime | None:
        return min((b.published_at for b in self.blogs.values()
                    if b.status is BlogStatus.SCHEDULED), default=None)

    async def is_blocked(self, user_a: int, user_b: int) -> bool:
        return (user_a, user_b) in self.blocks or (user_b, user_a) in self.blocks

    async def in_audience(self, author_id: int, viewer_id: int, audience: Audience) -> bool:
        return self._in_audience(author_id, viewer_id, audience)

    def _in_audience(self, author_id: int, viewer_id: int | None, audience: Audience) -> bool:
        if audience is Audience.PUBLIC or viewer_id == author_id:
            return True
        if viewer_id is None:
            return False
        friend = (viewer_id, author_id) in self.friends
        return friend or (audience is Audience.FOLLOWERS
                          and (viewer_id, author_id) in self.follows)

    def _visible(self, viewer_id: int | None) -> list[Blog]:
        shown = [b for b in self.blogs.values() if b.status is BlogStatus.PUBLISHED and not (
            viewer_id is not None and ((b.author.id, viewer_id) in self.blocks
                                       or (viewer_id, b.author.id) in self.blocks))
            and self._in_audience(b.author.id, viewer_id, b.audience)]
        return sorted(shown, key=lambda b: (b.published_at, b.id), reverse=True)

    async def feed(self, viewer_id: int | None, after: FeedPosition | None, limit: int,
                   following_of: int | None = None) -> list[Blog]:
        rows = self._visible(viewer_id)
        if after is not None:
            rows = [b for b in rows if (b.published_at, b.id) < (after.published_at, after.id)]
        return rows[:limit]

    async def page(self, viewer_id: int | None, offset: int, limit: int) -> list[Blog]:
        return self._visible(viewer_id)[offset:offset + limit]

    async def total_for(self, viewer_id: int | None) -> int:
        return len(self._visible(viewer_id))

    async def search(self, viewer_id: int | None, terms: BlogFilter, offset: int,
                     limit: int) -> list[Blog]:
        rows = self._matching(self._visible(viewer_id), terms)
        if terms.q is not None:  # ranked among the newest candidates, as PostgreSQL does
            rows = sorted(rows[:SEARCH_CANDIDATES],
                          key=lambda b: (self._rank(b, terms), b.published_at, b.id),
                          reverse=True)
        return rows[offset:offset + limit]

    @staticmethod
    def _matching(blogs: list[Blog], terms: BlogFilter) -> list[Blog]:
        return [b for b in blogs
                if (terms.q is None or fold(terms.q) in fold(b.title + " " + b.body))
                and (terms.tag is None or terms.tag in b.tags)]

    @staticmethod
    def _rank(blog: Blog, terms: BlogFilter) -> float:
        # A hit in the title ranks above one in the body only, like ts_rank's weights.
        return 1.0 if fold(terms.q or "") in fold(blog.title) else 0.2

    def _candidate(self, blog: Blog, terms: BlogFilter) -> Candidate:
        return Candidate(blog.id, blog.author.id, blog.published_at, self._rank(blog, terms))

    async def public_matches(self, terms: BlogFilter, limit: int) -> list[Candidate]:
        self.calls.append("public_matches")
        return [self._candidate(b, terms)
                for b in self._matching(self._visible(None), terms)[:limit]]

    async def reader_matches(self, viewer_id: int, terms: BlogFilter, limit: int,
                             page_ids: list[int]) -> tuple[frozenset[int], list[Candidate], bool]:
        blocked = frozenset({a for a, b in self.blocks if b == viewer_id}
                            | {b for a, b in self.blocks if a == viewer_id})
        own = [b for b in self._matching(self._visible(viewer_id), terms)
               if b.audience is not Audience.PUBLIC]
        reacted = any((i, viewer_id) in self.reactions for i in page_ids)
        return blocked, [self._candidate(b, terms) for b in own[:limit]], reacted

    async def differs_for(self, viewer_id: int, shown: list[Candidate],
                          after: FeedPosition | None, last: FeedPosition | None) -> bool:
        authors = {c.author_id for c in shown}
        if any((a, viewer_id) in self.blocks or (viewer_id, a) in self.blocks for a in authors):
            return True
        if any((c.id, viewer_id) in self.reactions for c in shown):
            return True
        return any(b.audience is not Audience.PUBLIC
                   and (last is None or (b.published_at, b.id) > (last.published_at, last.id))
                   and (after is None or (b.published_at, b.id) < (after.published_at, after.id))
                   for b in self._visible(viewer_id))

    async def reader_of(self, blog_id: int, viewer_id: int) -> tuple[bool, Reaction | None]:
        author = self.blogs[blog_id].author.id if blog_id in self.blogs else None
        blocked = (author, viewer_id) in self.blocks or (viewer_id, author) in self.blocks
        return blocked, await self.reaction_of(blog_id, viewer_id)

    async def visible_by_ids(self, viewer_id: int, ids: list[int]) -> list[Blog]:
        return [b for b in self._visible(viewer_id) if b.id in ids]

    async def stats(self, author_id: int) -> BlogStats:
        mine = [b for b in self.blogs.values() if b.author.id == author_id]
        return BlogStats(len(mine), sum(b.status is BlogStatus.PUBLISHED for b in mine),
                         sum(b.likes_count for b in mine))

    async def public_pages(self, first_id: int, last_id: int) -> list[tuple[str, datetime]]:
        return [(b.slug, b.updated_at) for b in sorted(self._visible(None), key=lambda b: b.id)
                if first_id <= b.id <= last_id]

    async def last_id(self) -> int:
        return max(self.blogs, default=0)

    async def drafts(self, author_id: int, limit: int) -> list[Blog]:
        mine = [b for b in self.blogs.values()
                if b.author.id == author_id and b.status is not BlogStatus.PUBLISHED]
        return sorted(mine, key=lambda b: (b.updated_at, b.id), reverse=True)[:limit]

    async def reaction_of(self, blog_id: int, user_id: int) -> Reaction | None:
        found = self.reactions.get((blog_id, user_id))
        return found[0] if found else None

    async def reactions_of(self, user_id: int, blog_ids: list[int]) -> dict[int, Reaction]:
        return {b: k for (b, u), (k, _) in self.reactions.items()
                if u == user_id and b in blog_ids}

    def _recount(self, blog_id: int) -> ReactionCounts:
        kinds = [k for (b, _), (k, _) in self.reactions.items() if b == blog_id]
        counts = ReactionCounts(**{k.value: kinds.count(k) for k in Reaction})
        self.blogs[blog_id] = replace(self.blogs[blog_id], likes_count=counts.like,
                                      reactions=counts)
        return counts

    async def react(self, blog_id: int, user_id: int, kind: Reaction) -> ReactionCounts:
        held = self.reactions.get((blog_id, user_id))
        if held is None or held[0] is not kind:
            self.reactions[(blog_id, user_id)] = (kind, datetime.now())
        return self._recount(blog_id)

    async def unreact(self, blog_id: int, user_id: int,
                      only: Reaction | None = None) -> tuple[ReactionCounts, Reaction | None]:
        held = self.reactions.get((blog_id, user_id))
        removed = None
        if held is not None and (only is None or held[0] is only):
            del self.reactions[(blog_id, user_id)]
            removed = held[0]
        return self._recount(blog_id), removed

    async def reactors(self, blog_id: int, viewer_id: int | None, kind: Reaction | None,
                       offset: int, limit: int) -> list[Reactor]:
        rows = sorted(((at, u, k) for (b, u), (k, at) in self.reactions.items()
                       if b == blog_id and (kind is None or k is kind)
                       and (viewer_id is None or ((u, viewer_id) not in self.blocks
                                                  and (viewer_id, u) not in self.blocks))),
                      reverse=True)
        return [Reactor(Author(u, f"user{u}", "U", None), k, at)
                for at, u, k in rows[offset:offset + limit]]

    async def tags(self, limit: int) -> list[TagCount]:
        counts: dict[str, int] = {}
        for b in self._visible(None):
            for t in b.tags:
                counts[t] = counts.get(t, 0) + 1
        ranked = sorted(counts.items(), key=lambda tc: (-tc[1], tc[0]))
        return [TagCount(t, n) for t, n in ranked[:limit]]

    async def locations(self, prefix: str, limit: int) -> list[Location]:
        return [loc for loc in self.places.values()
                if fold(loc.city).startswith(fold(prefix))][:limit]


class FakeCommentRepository:
    def __init__(self, blogs: FakeBlogRepository) -> None:
        self.comments: dict[int, Comment] = {}
        self.keys: dict[tuple[int, str], tuple[int, str]] = {}  # (author, key) -> (id, print)
        self._blogs = blogs
        self._ids = itertools.count(1)

    def _recount(self, blog_id: int) -> None:
        count = sum(1 for c in self.comments.values() if c.blog_id == blog_id)
        self._blogs.blogs[blog_id] = replace(self._blogs.blogs[blog_id], comments_count=count)

    async def add(self, blog_id: int, author_id: int, body: str, now: datetime,
                  key: IdempotencyKey | None = None) -> tuple[Comment, bool]:
        if key is not None and (found := await self.keyed(author_id, key)):
            return found, False
        comment = Comment(next(self._ids), blog_id, Author(author_id, f"user{author_id}", "U",
                                                           None), body, now, now)
        self.comments[comment.id] = comment
        if key is not None:
            self.keys[author_id, key.key] = (comment.id, key.fingerprint)
        self._recount(blog_id)
        return comment, True

    async def keyed(self, author_id: int, key: IdempotencyKey) -> Comment | None:
        if (author_id, key.key) not in self.keys:
            return None
        comment_id, fingerprint = self.keys[author_id, key.key]
        replayed_or_refused(key, fingerprint)
        return self.comments.get(comment_id)

    async def get(self, comment_id: int) -> Comment | None:
        return self.comments.get(comment_id)

    async def edit(self, comment_id: int, body: str, now: datetime) -> Comment:
        self.comments[comment_id] = replace(self.comments[comment_id], body=body, updated_at=now)
        return self.comments[comment_id]

    async def delete(self, comment_id: int) -> list[int]:
        comment = self.comments.pop(comment_id)
        self._recount(comment.blog_id)
        return []  # notifications live in their own fake, withdrawn on CommentDeleted

    async def list(self, blog_id: int, offset: int, limit: int) -> list[Comment]:
        rows = sorted((c for c in self.comments.values() if c.blog_id == blog_id),
                      key=lambda c: c.id)
        return rows[offset:offset + limit]
