"""Blog, feed, search, like, comment and location routes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Awaitable, Callable

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from ...domain.blogs.model import (
    BlogFilter,
    decode_cursor,
    encode_cursor,
)
from ...domain.blogs.reading import BULK_CAP
from ...domain.errors import AuthenticationError, NotFoundError
from ..api import JSON, Api, Call
from ..kept_answers import remember
from ..page_cache import Version, answer
from ..schemas.blogs import (
    BlogIn,
    BlogOut,
    BlogSearchOut,
    BlogSearchQuery,
    BlogUpdateIn,
    BulkOut,
    CommentIn,
    CommentOut,
    CommentsOut,
    FeedOut,
    FeedQuery,
    LikeOut,
    LocationOut,
    LocationQuery,
    LocationsOut,
    PageQuery,
    PaginatedOut,
    ReactionCountsOut,
    ReactionIn,
    ReactionOut,
    ReactorOut,
    ReactorsOut,
    ReactorsQuery,
    StatsOut,
    TagOut,
    TagsOut,
    TagsQuery,
    utc,
)
from ...domain.ids import MAX_ID

api = Api()
TAGS = ["blogs"]
BLOG = "/api/v1/blog/{id:int}"
COMMENT = "/api/v1/blog/{id:int}/comments/{comment_id:int}"
# One blog's cached answer is exact for its own counts too (Blogs.blog_version), so only an
# author's new name or avatar waits this long to show to anonymous readers.
BLOG_MAX_AGE = 10.0


def path_id(call: Call, name: str = "id") -> int:
    # The route's int convertor admits any digits; an id past bigint names nothing.
    value = call.path(name)
    if value > MAX_ID:
        raise NotFoundError("No such blog." if name == "id" else "No such comment.")
    return value


def viewer(call: Call) -> int | None:
    return call.claims.user_id if call.claims else None


def total_pages(total: int, limit: int) -> int:
    return math.ceil(total / limit) if total else 0


@api.route("GET", "/api/v1/blog/bulk", auth="optional", tags=TAGS, response=BulkOut,
           summary=f"Published blogs with author and location: the newest {BULK_CAP} at most")
async def bulk_blogs(call: Call[None, None]) -> BulkOut:
    blogs, capped = await call.services.blogs.bulk(viewer(call))
    return BulkOut(blogs=[BlogOut.of(b) for b in blogs], cap=BULK_CAP, capped=capped)


@dataclass(frozen=True, slots=True)
class Public:
    """Where an anonymous read is kept in the page cache: its key, the content version it
    must match, and how old its counts and names may be (None: the cache's second)."""

    key: tuple
    version: Version
    max_age: float | None = None
    # What moves its counts (Blogs.activity_version); None when `version` covers them.
    activity: int | None = None


def listed(call: Call, key: tuple) -> Public:
    """A list (or a blog by slug): exact for what it shows, counts refreshed once moved."""
    blogs = call.services.blogs
    return Public(key, blogs.content_version, activity=blogs.activity_version)


def kept(where: Callable[[Call], Public | None]) -> Callable[[Call], Response | None]:
    """The route's anonymous answer when the page cache holds it fresh, else None (the
    handler then builds it, or answers a stale one while it is rebuilt). A kept answer is
    remembered for the same target, so the next one skips routing (http/kept_answers.py)."""
    def fresh(call: Call, request: Request) -> Response | None:
        public = where(call)
        if public is None:
            return None
        page = call.services.page_cache.fresh_page(public.key, public.version, public.max_age,
                                                   public.activity)
        return None if page is None else answer(request.headers.get("if-none-match"),
                                                page, JSON)

    def cached(call: Call) -> Response | None:
        if call.claims is not None:
            return None
        response = fresh(call, call.request)
        if response is not None:
            again = bare(call)
            remember(call.request, lambda request: fresh(again, request))
        return response
    return cached


def bare(call: Call) -> Call:
    """An anonymous call's parameters without its request: what `where` reads (services,
    path parameters, the validated query), kept without the request's headers."""
    scope = call.request.scope
    request = Request({"type": "http", "app": scope.get("app"), "headers": [],
                       "path_params": dict(scope.get("path_params", {}))})
    return Call(request, None, call.query, None)


async def public_read(call: Call, public: Public | None,
                      build: Callable[[], Awaitable[BaseModel]]) -> Response | BaseModel:
    """An anonymous reader's list, search or blog comes from the page cache (exact for
    publish, edit, audience change and delete; counts at most a second old, author names
    at most the cache's names_max_age), with an ETag for conditional GETs; a signed-in
    reader's is built per request here, since it hides authors blocked either way and
    shows what their audience admits (the routes first try the anonymous answer for a
    reader it fits: `anonymous_if_unmoved`)."""
    if call.claims is not None or public is None:
        return await build()
    return await anonymous_answer(call, public, build)


async def anonymous_answer(call: Call, public: Public,
                           build: Callable[[], Awaitable[BaseModel]]) -> Response:
    """The anonymous answer from the page cache, built (for an anonymous reader) if due."""
    async def render() -> bytes:
        return (await build()).model_dump_json().encode()

    page = await call.services.page_cache.page(public.key, public.version, render,
                                               public.max_age, public.activity)
    return answer(call.request.headers.get("if-none-match"), page, JSON)


async def anonymous_if_unmoved(call: Call, public: Public,
                               build: Callable[[], Awaitable[BaseModel]]) -> Response | None:
    """For a signed-in reader whose page was found to be the anonymous one at content
    `public.version` (read before that check): the anonymous answer, or None when the
    content moved meanwhile, since a blog published then (by an author they blocked, say)
    was never checked. A page kept at that version is served as it is."""
    held = call.services.page_cache.held(public.key, public.version)
    if held is not None:
        return answer(call.request.headers.get("if-none-match"), held, JSON)
    response = await anonymous_answer(call, public, build)
    return response if call.services.blogs.content_version == public.version else None


def page_of(call: Call) -> Public:
    q = call.query
    return listed(call, ("page", q.page, q.limit))


@api.route("GET", "/api/v1/blog/paginated_bulk", auth="optional", tags=TAGS, query=PageQuery,
           response=PaginatedOut, summary="A page of published blogs, newest first, with total",
           cached=kept(page_of))
async def paginated_bulk(call: Call[None, PageQuery]) -> Response | BaseModel:
    q = call.query

    async def build() -> PaginatedOut:
        blogs, total = await call.services.blogs.page(viewer(call), q.page, q.limit)
        return PaginatedOut(blogs=[BlogOut.of(b) for b in blogs], total=total, page=q.page,
                            limit=q.limit, totalPages=total_pages(total, q.limit))

    return await public_read(call, page_of(call), build)


@api.route("GET", "/api/v1/blog/stats", tags=TAGS, response=StatsOut,
           summary="Your number of blogs and the likes they have in all")
async def blog_stats(call: Call[None, None]) -> StatsOut:
    s = await call.services.blogs.stats(call.user_id)
    return StatsOut(blogs=s.blogs, published=s.published, total_likes=s.total_likes)


def terms_of(q: BlogSearchQuery) -> BlogFilter:
    return BlogFilter(q=q.q, author_id=q.author, tag=q.tag, city=q.city, country=q.country,
                      since=utc(q.from_), until=utc(q.to))


def search_of(call: Call) -> Public:
    q = call.query
    return listed(call, ("search", terms_of(q), q.page, q.limit))


@api.route("GET", "/api/v1/blog/search", auth="optional", tags=TAGS, query=BlogSearchQuery,
           response=BlogSearchOut,
           summary="Full-text search (title ranked above body) with combinable filters",
           cached=kept(search_of))
async def search_blogs(call: Call[None, BlogSearchQuery]) -> Response | BaseModel:
    q = call.query
    terms = terms_of(q)

    def out(blogs: list, more: bool) -> BlogSearchOut:
        return BlogSearchOut(blogs=[BlogOut.of(b) for b in blogs], page=q.page, limit=q.limit,
                         has_more=more)

    async def anonymous() -> BlogSearchOut:
        return out(*await call.services.blogs.search(None, terms, q.page, q.limit))

    public = search_of(call)  # the version the check below compares against
    if call.claims is None:
        return await public_read(call, public, anonymous)
    found = await call.services.blogs.search_or_public(call.user_id, terms, q.page, q.limit)
    if found is None:  # their page is the anonymous one, blog for blog: kept in memory
        kept_answer = await anonymous_if_unmoved(call, public, anonymous)
        if kept_answer is not None:
            return kept_answer
        found = await call.services.blogs.search(call.user_id, terms, q.page, q.limit)
    return out(*found)


def feed_of(call: Call) -> Public | None:
    q = call.query
    if q.following:  # never anonymous: the handler answers 401
        return None
    return listed(call, ("feed", q.cursor, q.limit))


@api.route("GET", "/api/v1/feed", auth="optional", tags=TAGS, query=FeedQuery,
           response=FeedOut,
           summary="Published blogs newest first, by cursor; following=true needs sign-in",
           cached=kept(feed_of))
async def feed(call: Call[None, FeedQuery]) -> Response | BaseModel:
    q = call.query
    if q.following and call.claims is None:
        raise AuthenticationError("Sign in to read the blogs of people you follow.")
    after = decode_cursor(q.cursor) if q.cursor else None  # a bad cursor is never cached

    async def build(reader: int | None) -> FeedOut:
        page = await call.services.blogs.feed(reader, after, q.limit, following=q.following)
        return FeedOut(blogs=[BlogOut.of(b) for b in page.blogs],
                       next_cursor=encode_cursor(page.next) if page.next else None)

    public = feed_of(call)
    # A reader for whom the page is the anonymous one gets it after one read (kept, or
    # built as for anyone).
    if call.claims is not None and public is not None and \
            await call.services.blogs.feed_as_anyone(call.user_id, after, q.limit):
        kept_answer = await anonymous_if_unmoved(call, public, lambda: build(None))
        if kept_answer is not None:
            return kept_answer
    return await public_read(call, public, lambda: build(viewer(call)))


def blog_of(call: Call) -> Public:
    blog_id = path_id(call)
    return Public(("blog", blog_id), call.services.blogs.blog_version(blog_id), BLOG_MAX_AGE)


@api.route("GET", BLOG, auth="optional", tags=TAGS, response=BlogOut, errors=(404,),
           summary="One blog; drafts only for their author", cached=kept(blog_of))
async def get_blog(call: Call[None, None]) -> Response | BaseModel:
    blog_id = path_id(call)

    async def build() -> BlogOut:
        return BlogOut.of(await call.services.blogs.get(blog_id, viewer(call)))

    if call.claims is not None:
        public = blog_of(call)
        # Kept for this version, so public and published: a reader with no block between
        # them and its author and no reaction on it gets the anonymous answer after one
        # read, not three.
        if call.services.page_cache.held(public.key, public.version) is not None and \
                await call.services.blogs.sees_as_anyone(blog_id, call.user_id):
            async def anonymous() -> BlogOut:
                return BlogOut.of(await call.services.blogs.get(blog_id, None))

            return await anonymous_answer(call, public, anonymous)
    return await public_read(call, blog_of(call), build)


def slug_of(call: Call) -> Public:
    return listed(call, ("slug", call.path("slug")))


@api.route("GET", "/api/v1/blog/slug/{slug}", auth="optional", tags=TAGS, response=BlogOut,
           errors=(404,),
           summary="One blog by its slug, current or earlier (compare the answer's slug)",
           cached=kept(slug_of))
async def get_blog_by_slug(call: Call[None, None]) -> Response | BaseModel:
    slug = call.path("slug")

    async def build() -> BlogOut:
        return BlogOut.of(await call.services.blogs.get_by_slug(slug, viewer(call)))

    return await public_read(call, slug_of(call), build)


@api.route("POST", "/api/v1/blog", tags=TAGS, body=BlogIn, response=BlogOut, status=201,
           idempotent=True,
           summary="Write a blog: published now, a draft, or scheduled for published_at")
async def create_blog(call: Call[BlogIn, None]) -> BlogOut:
    blog, call.created = await call.services.blogs.create_once(
        call.user_id, call.body.fields(), call.idempotency)
    return BlogOut.of(blog)


@api.route("PUT", BLOG, tags=TAGS, body=BlogUpdateIn, response=BlogOut,
           errors=(403, 404, 409),
           summary="Edit your blog; send the updated_at you last saw (409 when stale)")
async def update_blog(call: Call[BlogUpdateIn, None]) -> BlogOut:
    blog = await call.services.blogs.update(path_id(call), call.user_id, call.body.changes(),
                                            utc(call.body.updated_at))
    return BlogOut.of(blog)


@api.route("DELETE", BLOG, tags=TAGS, status=204, errors=(403, 404),
           summary="Delete your blog with its likes and comments")
async def delete_blog(call: Call[None, None]) -> None:
    await call.services.blogs.delete(path_id(call), call.user_id)


@api.route("POST", BLOG + "/like", tags=TAGS, response=LikeOut, errors=(404, 409),
           summary="Like a blog (idempotent)")
async def like_blog(call: Call[None, None]) -> LikeOut:
    count = await call.services.blogs.like(path_id(call), call.user_id)
    return LikeOut(liked=True, likes_count=count)


@api.route("DELETE", BLOG + "/like", tags=TAGS, response=LikeOut, errors=(404,),
           summary="Take your like back (idempotent)")
async def unlike_blog(call: Call[None, None]) -> LikeOut:
    count = await call.services.blogs.unlike(path_id(call), call.user_id)
    return LikeOut(liked=False, likes_count=count)


@api.route("PUT", BLOG + "/reaction", tags=TAGS, body=ReactionIn, response=ReactionOut,
           errors=(404, 409),
           summary="Set your reaction (like, love, haha, wow, sad, angry); replaces another")
async def set_reaction(call: Call[ReactionIn, None]) -> ReactionOut:
    state = await call.services.blogs.react(path_id(call), call.user_id, call.body.kind)
    return ReactionOut.of(state)


@api.route("DELETE", BLOG + "/reaction", tags=TAGS, response=ReactionOut, errors=(404,),
           summary="Take your reaction back, whatever its kind (idempotent)")
async def clear_reaction(call: Call[None, None]) -> ReactionOut:
    return ReactionOut.of(await call.services.blogs.clear_reaction(path_id(call), call.user_id))


@api.route("GET", BLOG + "/reactions", auth="optional", tags=TAGS, query=ReactorsQuery,
           response=ReactorsOut, errors=(404,),
           summary="Who reacted to a blog, newest first, with the counts per kind")
async def list_reactions(call: Call[None, ReactorsQuery]) -> ReactorsOut:
    q = call.query
    rows, counts, more = await call.services.blogs.reactors(path_id(call), viewer(call), q.kind,
                                                            q.page, q.limit)
    return ReactorsOut(reactions=[ReactorOut.of(r) for r in rows],
                       counts=ReactionCountsOut.of(counts), page=q.page, limit=q.limit,
                       has_more=more)


@api.route("GET", BLOG + "/comments", auth="optional", tags=TAGS, query=PageQuery,
           response=CommentsOut, errors=(404,), summary="Comments on a blog, oldest first")
async def list_comments(call: Call[None, PageQuery]) -> CommentsOut:
    q = call.query
    comments, total = await call.services.blogs.comments(path_id(call), viewer(call),
                                                         q.page, q.limit)
    return CommentsOut(comments=[CommentOut.of(c) for c in comments], total=total,
                       page=q.page, limit=q.limit, totalPages=total_pages(total, q.limit))


@api.route("POST", BLOG + "/comments", tags=TAGS, body=CommentIn, response=CommentOut,
           status=201, errors=(404, 409), idempotent=True, summary="Comment on a published blog")
async def add_comment(call: Call[CommentIn, None]) -> CommentOut:
    comment, call.created = await call.services.blogs.comment_once(
        path_id(call), call.user_id, call.body.body, call.idempotency)
    return CommentOut.of(comment)


@api.route("PUT", COMMENT, tags=TAGS, body=CommentIn, response=CommentOut,
           errors=(403, 404), summary="Edit your comment")
async def edit_comment(call: Call[CommentIn, None]) -> CommentOut:
    comment = await call.services.blogs.edit_comment(
        path_id(call), path_id(call, "comment_id"), call.user_id, call.body.body)
    return CommentOut.of(comment)


@api.route("DELETE", COMMENT, tags=TAGS, status=204, errors=(403, 404),
           summary="Delete a comment: yours, or any on your blog")
async def delete_comment(call: Call[None, None]) -> None:
    await call.services.blogs.delete_comment(path_id(call), path_id(call, "comment_id"),
                                             call.user_id)


@api.route("GET", "/api/v1/tags", auth=False, tags=["tags"], query=TagsQuery, response=TagsOut,
           summary="Tags with their number of public published blogs, most used first")
async def list_tags(call: Call[None, TagsQuery]) -> TagsOut:
    found = await call.services.blogs.tags(call.query.limit)
    return TagsOut(tags=[TagOut(tag=t.tag, count=t.count) for t in found])


@api.route("GET", "/api/v1/locations", auth=False, tags=["locations"], query=LocationQuery,
           response=LocationsOut, summary="Locations whose city or country starts with q")
async def locations(call: Call[None, LocationQuery]) -> LocationsOut:
    found = await call.services.blogs.locations(call.query.q, call.query.limit)
    return LocationsOut(locations=[LocationOut.of(loc) for loc in found])
