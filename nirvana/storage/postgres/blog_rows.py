"""How a blog is read from PostgreSQL: the columns every blog read selects, with its author
and location joined, and the row made a `Blog`. Tags live in the row, and the reaction
counts are columns kept exact by triggers (schema.sql steps 0003 and reactions)."""

from __future__ import annotations

import asyncpg

from ...domain.blogs.authors import Author
from ...domain.blogs.model import Audience, Blog, BlogStatus, Location
from ...domain.blogs.reactions import ReactionCounts

BLOG_COLUMNS = """
    b.id, b.title, b.body, b.summary, b.header_image, b.images, b.tags, b.status,
    b.created_at, b.updated_at, b.published_at, b.likes_count, b.comments_count, b.slug,
    b.audience, b.hidden_at IS NOT NULL AS hidden, b.love_count, b.haha_count, b.wow_count,
    b.sad_count, b.angry_count,
    u.id AS author_id, u.username::text AS author_username, u.name AS author_name,
    u.avatar_url AS author_avatar, l.id AS location_id, l.city, l.country"""

BLOG_FROM = """
    FROM blogs b
    JOIN users u ON u.id = b.author_id
    LEFT JOIN locations l ON l.id = b.location_id"""

NEWEST_FIRST = "ORDER BY b.published_at DESC, b.id DESC"

COUNT_COLUMNS = "likes_count, love_count, haha_count, wow_count, sad_count, angry_count"


def blog_from_row(row: asyncpg.Record) -> Blog:
    location = None
    if row["location_id"] is not None:
        location = Location(row["location_id"], row["city"], row["country"])
    return Blog(
        id=row["id"],
        author=Author(row["author_id"], row["author_username"], row["author_name"],
                      row["author_avatar"]),
        title=row["title"],
        body=row["body"],
        summary=row["summary"],
        header_image=row["header_image"],
        images=tuple(row["images"]),
        tags=tuple(row["tags"]),
        location=location,
        status=BlogStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        published_at=row["published_at"],
        likes_count=row["likes_count"],
        comments_count=row["comments_count"],
        slug=row["slug"],
        audience=Audience(row["audience"]),
        hidden=row["hidden"],
        reactions=counts_from_row(row),
    )


def counts_from_row(row: asyncpg.Record) -> ReactionCounts:
    return ReactionCounts(like=row["likes_count"], love=row["love_count"],
                          haha=row["haha_count"], wow=row["wow_count"], sad=row["sad_count"],
                          angry=row["angry_count"])
