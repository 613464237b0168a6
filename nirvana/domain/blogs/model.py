"""Blogs, comments and locations: the entities and the rules on the fields a writer sends.

Text is stored exactly as written. Bodies are Markdown; Nirvana never accepts nor returns
HTML, so nothing here sanitises markup: a client renders Markdown with raw HTML disabled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any, Callable

from .. import cursors as codec
from ..errors import field_error
from ..urls import MAX_URL, validate_url
from ..text import check_text, is_blank
from .authors import Author
from .reactions import Reaction, ReactionCounts

MAX_TITLE = 200
MAX_SUMMARY = 500
MAX_BODY = 100_000
MAX_IMAGES = 10
MAX_TAGS = 10
MAX_TAG = 40
MAX_PLACE = 100
MAX_COMMENT = 5_000
MAX_QUERY = 200


class BlogStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    # Published by the server at its published_at (domain/blogs/service.py publish_due);
    # until then visible to its author only, like a draft.
    SCHEDULED = "scheduled"


class Audience(StrEnum):
    """Who may read a published blog besides its author (a block always hides it)."""

    PUBLIC = "public"
    FOLLOWERS = "followers"  # the author's followers and friends
    FRIENDS = "friends"  # the author's friends only


@dataclass(frozen=True, slots=True)
class Place:
    """A city and country as a writer names them; matched to a Location case- and
    accent-insensitively."""

    city: str
    country: str


@dataclass(frozen=True, slots=True)
class Location:
    id: int
    city: str
    country: str


@dataclass(frozen=True, slots=True)
class BlogFields:
    """Everything a writer owns about a blog, validated."""

    title: str
    body: str
    summary: str
    header_image: str | None
    images: tuple[str, ...]
    tags: tuple[str, ...]
    place: Place | None
    status: BlogStatus
    # The time a scheduled blog is to be published; only with status SCHEDULED.
    publish_at: datetime | None = None
    audience: Audience = Audience.PUBLIC


@dataclass(frozen=True, slots=True)
class BlogChanges:
    """A partial edit: None leaves a field as it is; the clear_* flags set it to nothing."""

    title: str | None = None
    body: str | None = None
    summary: str | None = None
    header_image: str | None = None
    images: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    place: Place | None = None
    status: BlogStatus | None = None
    publish_at: datetime | None = None
    audience: Audience | None = None
    clear_header_image: bool = False
    clear_place: bool = False


@dataclass(frozen=True, slots=True)
class Blog:
    id: int
    author: Author
    title: str
    body: str
    summary: str
    header_image: str | None
    images: tuple[str, ...]
    tags: tuple[str, ...]
    location: Location | None
    status: BlogStatus
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    likes_count: int
    comments_count: int
    # Unique; an earlier slug of the blog (before a title change) still finds it.
    slug: str = ""
    audience: Audience = Audience.PUBLIC
    # Hidden by a moderator: shown to its author only, until shown again.
    hidden: bool = False
    # Counts per kind (`like` is likes_count), and the reader's own reaction when a
    # signed-in reader asked (None otherwise).
    reactions: ReactionCounts = ReactionCounts()
    my_reaction: Reaction | None = None

    @property
    def place(self) -> Place | None:
        return Place(self.location.city, self.location.country) if self.location else None


@dataclass(frozen=True, slots=True)
class Comment:
    id: int
    blog_id: int
    author: Author
    body: str
    created_at: datetime
    updated_at: datetime
    hidden: bool = False  # hidden by a moderator: left out of the list, 404 to all but its author


@dataclass(frozen=True, slots=True)
class BlogStats:
    blogs: int
    published: int
    total_likes: int


@dataclass(frozen=True, slots=True)
class TagCount:
    """A tag and how many public published blogs carry it."""

    tag: str
    count: int


@dataclass(frozen=True, slots=True)
class FeedPosition:
    """Where a feed page ended: the (published_at, id) of its last blog."""

    published_at: datetime
    id: int


@dataclass(frozen=True, slots=True)
class BlogFilter:
    """Search terms and filters; every field is optional and they combine with AND."""

    q: str | None = None
    author_id: int | None = None
    tag: str | None = None
    city: str | None = None
    country: str | None = None
    since: datetime | None = None
    until: datetime | None = None


# -- validation ------------------------------------------------------------------------------


def clean_text(raw: str, field: str, max_len: int, *, required: bool = False,
               multiline: bool = False) -> str:
    """The text as sent, or InvalidInputError naming the field (the shared rules of
    `domain/text.py`: no control characters, tab and line breaks only where `multiline`;
    `required` refuses a text that shows nothing)."""
    return check_text(raw, field, max_len, multiline=multiline, required=required)


def clean_image_url(raw: str, field: str) -> str:
    return validate_url(clean_text(raw, field, MAX_URL), field)


def normalise_tag(raw: str, field: str = "tags") -> str:
    tag = " ".join(clean_text(raw, field, MAX_TAG * 4).split()).lower()
    if not tag or len(tag) > MAX_TAG:
        raise field_error(field, f"each tag must be 1-{MAX_TAG} characters", "invalid_tag")
    return tag


def clean_tags(raw: tuple[str, ...]) -> tuple[str, ...]:
    # Order kept, duplicates (after normalising) dropped: "Go" and "go" are one tag.
    tags = tuple(dict.fromkeys(normalise_tag(t) for t in raw))
    if len(tags) > MAX_TAGS:
        raise field_error("tags", f"at most {MAX_TAGS} tags", "too_many")
    return tags


def clean_place_name(raw: str, field: str) -> str:
    name = " ".join(clean_text(raw, field, MAX_PLACE * 4).split())
    if not name or len(name) > MAX_PLACE:
        raise field_error(field, f"must be 1-{MAX_PLACE} characters", "invalid")
    return name


def clean_place(place: Place) -> Place:
    return Place(clean_place_name(place.city, "location.city"),
                 clean_place_name(place.country, "location.country"))


def validate_fields(fields: BlogFields, kept: frozenset[str] = frozenset()) -> BlogFields:
    """`fields` checked and cleaned, except those named in `kept`: what a blog holds already
    (see `validate_edit`)."""
    def clean(name: str, cleaner: Callable[[Any], Any]) -> Any:
        value = getattr(fields, name)
        return value if name in kept or value is None else cleaner(value)

    if "images" not in kept and len(fields.images) > MAX_IMAGES:
        raise field_error("images", f"at most {MAX_IMAGES} images", "too_many")
    validated = BlogFields(
        title=clean("title", lambda v: clean_text(v, "title", MAX_TITLE, required=True)),
        body=clean("body", lambda v: clean_text(v, "body", MAX_BODY, multiline=True)),
        summary=clean("summary",
                      lambda v: clean_text(v, "summary", MAX_SUMMARY, multiline=True)),
        header_image=clean("header_image", lambda v: clean_image_url(v, "header_image")),
        images=clean("images", lambda v: tuple(
            clean_image_url(u, f"images.{i}") for i, u in enumerate(v))),
        tags=clean("tags", clean_tags),
        place=clean("place", clean_place),
        status=fields.status,
        publish_at=fields.publish_at,
        audience=fields.audience,
    )
    if validated.status is not BlogStatus.DRAFT and is_blank(validated.body):
        raise field_error("body", "must not be empty to publish", "required")
    if validated.status is not BlogStatus.SCHEDULED and validated.publish_at is not None:
        raise field_error("published_at", "can only be chosen with status 'scheduled'",
                          "not_scheduled")
    return validated


# The fields a writer sends that the blog stores as they are (status and the rest are
# checked against the blog's state, whatever it holds).
_STORED_AS_SENT = ("title", "body", "summary", "header_image", "images", "tags", "place")


def validate_edit(blog: Blog, changes: BlogChanges) -> BlogFields:
    """The blog's fields with the edit applied, each checked where the edit changes it.
    What the blog holds stands: one stored under an older rule (a tab in its title before
    tab was refused there) can still be edited, also by the web editor, which sends every
    field back as it was."""
    fields = apply_changes(blog, changes)
    kept = frozenset(name for name in _STORED_AS_SENT
                     if getattr(fields, name) == getattr(blog, name))
    return validate_fields(fields, kept)


def apply_changes(blog: Blog, changes: BlogChanges) -> BlogFields:
    """The blog's fields with the edit applied (not yet validated)."""
    return BlogFields(
        title=changes.title if changes.title is not None else blog.title,
        body=changes.body if changes.body is not None else blog.body,
        summary=changes.summary if changes.summary is not None else blog.summary,
        header_image=None if changes.clear_header_image
        else changes.header_image if changes.header_image is not None else blog.header_image,
        images=changes.images if changes.images is not None else blog.images,
        tags=changes.tags if changes.tags is not None else blog.tags,
        place=None if changes.clear_place
        else changes.place if changes.place is not None else blog.place,
        status=changes.status if changes.status is not None else blog.status,
        publish_at=changes.publish_at,
        audience=changes.audience if changes.audience is not None else blog.audience,
    )


def validate_filter(f: BlogFilter) -> BlogFilter:
    def opt(value: str | None, field: str) -> str | None:
        if value is None:
            return None
        value = " ".join(clean_text(value, field, MAX_QUERY).split())
        return value or None

    since, until = f.since, f.until
    if since is not None and until is not None and since > until:
        raise field_error("from", "must not be after 'to'", "invalid_range")
    tag = opt(f.tag, "tag")
    return BlogFilter(q=opt(f.q, "q"), author_id=f.author_id,
                      tag=normalise_tag(tag, "tag") if tag else None,
                      city=opt(f.city, "city"), country=opt(f.country, "country"),
                      since=since, until=until)


# -- cursors ---------------------------------------------------------------------------------


def encode_cursor(position: FeedPosition) -> str:
    return codec.encode(
        f"{position.published_at.astimezone(timezone.utc).isoformat()}|{position.id}")


def _feed_position(text: str) -> FeedPosition:
    when, _, ident = text.partition("|")
    at = datetime.fromisoformat(when)
    if at.tzinfo is None:
        raise ValueError("naive")
    return FeedPosition(at, int(ident))


def decode_cursor(cursor: str) -> FeedPosition:
    """The position a cursor names; InvalidInputError for anything we did not issue."""
    return codec.decode(cursor, _feed_position)
