"""Request and response models of the blog, comment and location routes.

Out-of-range paging values (limit=0, limit=1000000, page=-1) are refused with 422, never
clamped silently: a client that asks for something it cannot get should find out.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Annotated

from pydantic import (BeforeValidator, Field, TypeAdapter, ValidationError,
                      ValidatorFunctionWrapHandler, WrapValidator)
from pydantic_core import PydanticCustomError

from ...domain.blogs import model as m
from ...domain.blogs.model import (Audience, Blog, BlogChanges, BlogFields, BlogStatus, Comment,
                                   Location, Place)
from ...domain.blogs.reactions import Reaction, ReactionCounts, ReactionState, Reactor
from ...domain.urls import MAX_URL
from ..api import In, Out
from ...schema_text import Lines

MAX_LIMIT = 100
MAX_PAGE = 10_000  # bounds OFFSET work: past it, use the cursor feed


class PlaceIn(In):
    city: str = Field(max_length=m.MAX_PLACE, examples=["Zürich"])
    country: str = Field(max_length=m.MAX_PLACE, examples=["Switzerland"])


def place(p: PlaceIn | None) -> Place | None:
    return Place(p.city, p.country) if p is not None else None


def utc(at: datetime | None) -> datetime | None:
    # A date or time without an offset is read as UTC.
    return at.replace(tzinfo=timezone.utc) if at is not None and at.tzinfo is None else at


_DATETIME = TypeAdapter(datetime)


def _not_unix_seconds(value: object) -> object:
    # pydantic reads a string of digits as Unix seconds, even in strict mode: "1893456000"
    # is not the ISO 8601 date-time that /openapi.json names.
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+(\.\d*)?\s*", value):
        raise PydanticCustomError("datetime_parsing",
                                  "Input should be an ISO 8601 date-time, not a number")
    return value


def _iso_datetime(value: object, handler: ValidatorFunctionWrapHandler) -> datetime:
    if not isinstance(value, str):
        return handler(value)  # strict: a datetime passes, a JSON number never
    try:  # as JSON text, strictly: the rules of every other date-time in a body
        return _DATETIME.validate_json(json.dumps(_not_unix_seconds(value)), strict=True)
    except ValidationError as e:
        error = e.errors()[0]
        raise PydanticCustomError(error["type"], error["msg"]) from None


# A date-time in a JSON body, and one in a query string (which may also be a date alone).
IsoDateTime = Annotated[datetime, WrapValidator(_iso_datetime)]
QueryDateTime = Annotated[datetime, BeforeValidator(_not_unix_seconds)]

IMAGE_DOC = "An http(s) URL or a /media/ path from POST /api/v1/image/upload"


TITLE_DOC = "One line; must show something (not only spaces or invisible characters)"
BODY_DOC = ("Markdown, stored and returned exactly as sent; never HTML. Must show something "
            "unless the blog is a draft")
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"  # base64url, as issued


class BlogIn(In):
    title: str = Field(min_length=1, max_length=m.MAX_TITLE, description=TITLE_DOC)
    body: Lines = Field(max_length=m.MAX_BODY, description=BODY_DOC)
    summary: Lines = Field(default="", max_length=m.MAX_SUMMARY)
    header_image: str | None = Field(default=None, max_length=MAX_URL, description=IMAGE_DOC)
    images: list[str] = Field(default_factory=list, max_length=m.MAX_IMAGES,
                              description=IMAGE_DOC)
    tags: list[str] = Field(default_factory=list, max_length=m.MAX_TAGS,
                            description="Stored lower case, spaces collapsed, duplicates dropped")
    location: PlaceIn | None = Field(
        default=None, description="Matched case- and accent-insensitively; created on first use")
    status: BlogStatus = Field(
        default=BlogStatus.PUBLISHED,
        description="published (now), draft (only you see it), or scheduled (published by "
                    "the server at published_at)")
    published_at: IsoDateTime | None = Field(
        default=None, description="With status scheduled only: when to publish, in the "
                                  "future (UTC if no offset)")
    audience: Audience = Field(
        default=Audience.PUBLIC,
        description="Who may read it: public, followers (your followers and friends) or "
                    "friends")

    def fields(self) -> BlogFields:
        return BlogFields(title=self.title, body=self.body, summary=self.summary,
                          header_image=self.header_image, images=tuple(self.images),
                          tags=tuple(self.tags), place=place(self.location),
                          status=self.status, publish_at=utc(self.published_at),
                          audience=self.audience)


class BlogUpdateIn(In):
    """A partial edit: omitted fields keep their value; null clears header_image/location."""

    updated_at: IsoDateTime = Field(
        description="The blog's updated_at as you last read it; if it changed since, 409")
    title: str | None = Field(default=None, min_length=1, max_length=m.MAX_TITLE,
                              description=TITLE_DOC)
    body: Lines | None = Field(default=None, max_length=m.MAX_BODY, description=BODY_DOC)
    summary: Lines | None = Field(default=None, max_length=m.MAX_SUMMARY)
    header_image: str | None = Field(default=None, max_length=MAX_URL)
    images: list[str] | None = Field(default=None, max_length=m.MAX_IMAGES)
    tags: list[str] | None = Field(default=None, max_length=m.MAX_TAGS)
    location: PlaceIn | None = None
    status: BlogStatus | None = None
    published_at: IsoDateTime | None = Field(
        default=None, description="A scheduled blog's new time to publish (in the future)")
    audience: Audience | None = None

    def changes(self) -> BlogChanges:
        sent = self.model_fields_set
        return BlogChanges(
            title=self.title, body=self.body, summary=self.summary,
            header_image=self.header_image,
            images=tuple(self.images) if self.images is not None else None,
            tags=tuple(self.tags) if self.tags is not None else None,
            place=place(self.location), status=self.status,
            publish_at=utc(self.published_at), audience=self.audience,
            clear_header_image="header_image" in sent and self.header_image is None,
            clear_place="location" in sent and self.location is None,
        )


class PageQuery(In):
    page: int = Field(default=1, ge=1, le=MAX_PAGE)
    limit: int = Field(default=20, ge=1, le=MAX_LIMIT)


class FeedQuery(In):
    cursor: str | None = Field(default=None, max_length=200, pattern=CURSOR_PATTERN,
                               description="next_cursor of the previous page; omit for the first")
    limit: int = Field(default=20, ge=1, le=MAX_LIMIT)
    following: bool = Field(default=False,
                            description="Only blogs by people you follow and your friends")


class BlogSearchQuery(PageQuery):
    q: str | None = Field(default=None, max_length=m.MAX_QUERY,
                          description="Full-text terms: words, \"phrases\", -excluded, or")
    author: int | None = Field(default=None, ge=1, description="The author's user id")
    tag: str | None = Field(default=None, max_length=m.MAX_QUERY)
    city: str | None = Field(default=None, max_length=m.MAX_QUERY)
    country: str | None = Field(default=None, max_length=m.MAX_QUERY)
    from_: QueryDateTime | None = Field(default=None, alias="from",
                                   description="Published at or after (UTC if no offset); "
                                               "not after `to` (422 invalid_range)")
    to: QueryDateTime | None = Field(default=None, description="Published at or before")


class LocationQuery(In):
    q: str = Field(default="", max_length=100, description="Prefix of a city or country")
    limit: int = Field(default=10, ge=1, le=50)


class CommentIn(In):
    body: Lines = Field(min_length=1, max_length=m.MAX_COMMENT,
                        description="May hold line breaks; must show something")


class AuthorOut(Out):
    id: int
    username: str
    name: str
    avatar: str | None


class LocationOut(Out):
    id: int
    city: str
    country: str

    @classmethod
    def of(cls, location: Location) -> "LocationOut":
        return cls(id=location.id, city=location.city, country=location.country)


class ReactionCountsOut(Out):
    """How many of each kind; `like` equals the blog's likes_count."""

    like: int
    love: int
    haha: int
    wow: int
    sad: int
    angry: int

    @classmethod
    def of(cls, counts: ReactionCounts) -> "ReactionCountsOut":
        return cls(**counts.as_dict())


MY_REACTION_DOC = "Your reaction; null when you have none or are not signed in"


class BlogOut(Out):
    id: int
    slug: str = Field(description="Unique, readable, from the title; earlier slugs of the "
                      "blog still resolve at /api/v1/blog/slug/{slug}")
    title: str
    body: str
    summary: str
    header_image: str | None
    images: list[str]
    tags: list[str]
    location: LocationOut | None
    status: BlogStatus
    audience: Audience
    author: AuthorOut
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    likes_count: int = Field(description="The number of `like` reactions")
    comments_count: int
    reactions: ReactionCountsOut
    my_reaction: Reaction | None = Field(description=MY_REACTION_DOC)

    @classmethod
    def of(cls, blog: Blog) -> "BlogOut":
        a = blog.author
        return cls(
            id=blog.id, slug=blog.slug, title=blog.title, body=blog.body, summary=blog.summary,
            header_image=blog.header_image, images=list(blog.images), tags=list(blog.tags),
            location=LocationOut.of(blog.location) if blog.location else None,
            status=blog.status, audience=blog.audience,
            author=AuthorOut(id=a.id, username=a.username, name=a.name, avatar=a.avatar_url),
            created_at=blog.created_at, updated_at=blog.updated_at,
            published_at=blog.published_at, likes_count=blog.likes_count,
            comments_count=blog.comments_count,
            reactions=ReactionCountsOut.of(blog.reactions), my_reaction=blog.my_reaction,
        )


class BulkOut(Out):
    blogs: list[BlogOut]
    cap: int = Field(description="At most this many blogs, the newest, are returned")
    capped: bool = Field(description="True when more published blogs exist than were returned")


class PaginatedOut(Out):
    blogs: list[BlogOut]
    total: int = Field(description="How many published blogs this reader may read")
    page: int
    limit: int
    totalPages: int


class FeedOut(Out):
    blogs: list[BlogOut]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null at the end")


class BlogSearchOut(Out):
    blogs: list[BlogOut]
    page: int
    limit: int
    has_more: bool


class StatsOut(Out):
    blogs: int = Field(description="Your blogs, drafts included")
    published: int
    total_likes: int


class LikeOut(Out):
    liked: bool
    likes_count: int


class ReactionIn(In):
    kind: Reaction = Field(description="One of like, love, haha, wow, sad, angry; replaces "
                                       "the reaction you had")


class ReactionOut(Out):
    my_reaction: Reaction | None = Field(description="Your reaction after the change")
    reactions: ReactionCountsOut
    likes_count: int = Field(description="The number of `like` reactions, as on the blog")

    @classmethod
    def of(cls, state: ReactionState) -> "ReactionOut":
        return cls(my_reaction=state.mine, reactions=ReactionCountsOut.of(state.counts),
                   likes_count=state.counts.like)


class ReactorsQuery(PageQuery):
    kind: Reaction | None = Field(default=None, description="Only reactions of this kind")


class ReactorOut(Out):
    user: AuthorOut
    kind: Reaction
    created_at: datetime

    @classmethod
    def of(cls, r: Reactor) -> "ReactorOut":
        u = r.user
        return cls(user=AuthorOut(id=u.id, username=u.username, name=u.name,
                                  avatar=u.avatar_url), kind=r.kind, created_at=r.at)


class ReactorsOut(Out):
    reactions: list[ReactorOut] = Field(description="Newest first; people on the other side "
                                                    "of a block with you are left out")
    counts: ReactionCountsOut
    page: int
    limit: int
    has_more: bool


class CommentOut(Out):
    id: int
    blog_id: int
    author: AuthorOut
    body: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, c: Comment) -> "CommentOut":
        a = c.author
        return cls(id=c.id, blog_id=c.blog_id, body=c.body, created_at=c.created_at,
                   updated_at=c.updated_at,
                   author=AuthorOut(id=a.id, username=a.username, name=a.name,
                                    avatar=a.avatar_url))


class CommentsOut(Out):
    comments: list[CommentOut]
    total: int
    page: int
    limit: int
    totalPages: int


class TagsQuery(In):
    limit: int = Field(default=100, ge=1, le=1000)


class TagOut(Out):
    tag: str
    count: int = Field(description="Public published blogs with this tag")


class TagsOut(Out):
    tags: list[TagOut] = Field(description="Most used first, then by name")


class LocationsOut(Out):
    locations: list[LocationOut]
