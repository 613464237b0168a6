"""Feeds for readers: RSS 2.0 and Atom for the site, each author and each tag, and the sitemap.

Always as an anonymous reader sees the site (cookies are ignored): a feed reader or crawler
may be shared, so nothing in these documents depends on who asked. Built by `web/feeds.py`,
kept in the page cache (`http/page_cache.py`: exact for publish, edit, audience change and
delete; author names at most ten seconds old) and answered with an ETag, so a crawler that
asks again with If-None-Match gets a 304 without a body.
"""

from __future__ import annotations

import gzip
from dataclasses import replace
from typing import Awaitable, Callable, Hashable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...http.kept_answers import remember
from ...http.page_cache import CachedPage, answer, not_modified
from .. import domain
from ..feeds import FeedInfo, atom, rss, sitemap, sitemap_index
from .people import person_id

FEED_SIZE = 20
# Blog ids per sitemap part (the protocol allows 50,000 URLs; WordPress uses 2,000 per part
# too): a part stays small enough for a crawler to fetch often, and the index lists
# ~500 parts at a million blogs.
SITEMAP_PART = 2000
SITEMAP_GZIP = 6  # zlib's default level: ~1 ms a part more than level 1, a few % smaller
# A part holds addresses and dates only, no names or counts: what changes it is a write to
# one of its blogs, which moves its version (`public_pages_version`). The age only bounds
# how long a missed move (another instance's, say) could last; rebuilding each of ~50-460
# parts every ten seconds for names it does not show was most of what a crawler's walk
# cost, and its slowest answers (docs/performance.md).
SITEMAP_PART_MAX_AGE = 3600.0
# Feeds and sitemaps show no counts: refreshed only for names (the page cache's
# names_max_age), never for reactions or comments.
NO_COUNTS = 0
RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
XML_TYPE = "application/xml; charset=utf-8"
# Public documents, the same for everyone: shared caches may keep them a little while.
HEADERS = {"Cache-Control": "public, max-age=60", "X-Content-Type-Options": "nosniff"}


def services(request: Request):
    return request.app.state.services


def base_url(request: Request) -> str:
    return request.app.state.settings.base_url


async def cached(request: Request, key: Hashable, media_type: str,
                 build: Callable[[], Awaitable[bytes]]) -> Response:
    s = services(request)
    full_key = ("doc",) + (key if isinstance(key, tuple) else (key,))
    page = await s.page_cache.page(full_key, s.blogs.content_version, build,
                                   activity=NO_COUNTS)

    def again(request: Request) -> Response | None:
        kept = s.page_cache.fresh_page(full_key, s.blogs.content_version, activity=NO_COUNTS)
        return None if kept is None else answer(request.headers.get("if-none-match"), kept,
                                                media_type, HEADERS)

    remember(request, again)
    return answer(request.headers.get("if-none-match"), page, media_type, HEADERS)


Builder = Callable[[FeedInfo, list, str], bytes]
FORMATS: dict[str, tuple[Builder, str]] = {"feed.xml": (rss, RSS_TYPE),
                                           "atom.xml": (atom, ATOM_TYPE)}


async def document(request: Request, key: tuple, info: Callable[[], Awaitable[FeedInfo]],
                   blogs: Callable[[], Awaitable[list]]) -> Response:
    name = request.url.path.rsplit("/", 1)[1]
    build, media_type = FORMATS[name]

    async def render() -> bytes:
        return build(await info(), await blogs(), base_url(request))

    return await cached(request, key + (name,), media_type, render)


async def site_feed(request: Request) -> Response:
    base = base_url(request)
    name = request.url.path.rsplit("/", 1)[1]

    async def info() -> FeedInfo:
        return FeedInfo("Nirvana", "The newest blogs on Nirvana.", base + "/", f"{base}/{name}")

    async def blogs() -> list:
        return (await services(request).blogs.feed(None, None, FEED_SIZE)).blogs

    return await document(request, ("site",), info, blogs)


async def author_feed(request: Request) -> Response:
    name = request.url.path.rsplit("/", 1)[1]
    uid = person_id(request)
    base = base_url(request)

    async def info() -> FeedInfo:
        person = (await services(request).social.profile(None, uid)).user.person
        return FeedInfo(f"{person.name} on Nirvana", f"The newest blogs by {person.name}.",
                        f"{base}/people/{uid}", f"{base}/people/{uid}/{name}")

    async def blogs() -> list:
        found, _ = await services(request).blogs.search(
            None, domain.BlogFilter(author_id=uid), 1, FEED_SIZE)
        return found

    return await document(request, ("author", uid), info, blogs)


async def tag_feed(request: Request) -> Response:
    name = request.url.path.rsplit("/", 1)[1]
    tag = request.path_params["tag"]
    if not tag:  # "/tags//feed.xml": no tag has an empty name
        raise domain.NotFoundError("No such tag.", code="not_found")
    base = base_url(request)
    page = f"{base}/tags/{quote(tag, safe='')}"

    async def info() -> FeedInfo:
        return FeedInfo(f"#{tag} on Nirvana", f"The newest blogs tagged {tag}.", page,
                        f"{page}/{name}")

    async def blogs() -> list:
        found, _ = await services(request).blogs.search(
            None, domain.BlogFilter(tag=tag), 1, FEED_SIZE)
        return found

    return await document(request, ("tag", tag), info, blogs)


async def site_map(request: Request) -> Response:
    """The sitemap index: one part per SITEMAP_PART blog ids given out so far."""
    async def render() -> bytes:
        parts = await services(request).blogs.sitemap_parts(SITEMAP_PART)
        return sitemap_index(base_url(request), [f"/sitemaps/{n}.xml" for n in range(parts)])

    return await cached(request, "sitemap", XML_TYPE, render)


async def site_map_part(request: Request) -> Response:
    part = request.path_params["part"]
    s = services(request)

    async def render() -> bytes:
        # Checked in the build: a cached part answers without asking how many there are.
        if part >= await s.blogs.sitemap_parts(SITEMAP_PART):
            raise domain.NotFoundError("No such sitemap.", code="not_found")
        pages = await s.blogs.public_pages(part, SITEMAP_PART)
        # Kept compressed: ~250 KB of addresses gzip to ~30 KB, so the ~460 parts of a
        # million blogs fit the page cache beside everything else (docs/performance.md).
        return gzip.compress(sitemap(base_url(request), pages, home=part == 0), SITEMAP_GZIP)

    # Compared against writes to this part's blogs only: a new post elsewhere leaves the
    # other ~460 parts of a million blogs kept.
    page = await s.page_cache.page(("doc", "sitemap", part),
                                   s.blogs.public_pages_version(part, SITEMAP_PART), render,
                                   SITEMAP_PART_MAX_AGE, NO_COUNTS)

    def again(request: Request) -> Response | None:
        kept = s.page_cache.fresh_page(("doc", "sitemap", part),
                                       s.blogs.public_pages_version(part, SITEMAP_PART),
                                       SITEMAP_PART_MAX_AGE, NO_COUNTS)
        return None if kept is None else answer_gzipped(request, kept, XML_TYPE, HEADERS)

    remember(request, again)
    return answer_gzipped(request, page, XML_TYPE, HEADERS)


def accepts_gzip(request: Request) -> bool:
    """Whether the client's Accept-Encoding admits gzip (RFC 9110: `gzip;q=0` refuses it)."""
    for item in request.headers.get("accept-encoding", "").split(","):
        name, _, params = item.partition(";")
        if name.strip().lower() in ("gzip", "x-gzip", "*"):
            q = params.strip().removeprefix("q=").strip()
            return not q or q.replace(".", "", 1).isdigit() and float(q) > 0
    return False


def answer_gzipped(request: Request, page: CachedPage, media_type: str,
                   headers: dict[str, str]) -> Response:
    """A page kept gzipped: as it is to a client that takes gzip (most crawlers do),
    decompressed for one that does not. Each form has its own ETag, as RFC 9110 asks of
    two representations."""
    headers = {**headers, "Vary": "Accept-Encoding"}
    if accepts_gzip(request):
        headers["Content-Encoding"] = "gzip"
        return answer(request.headers.get("if-none-match"), page, media_type, headers)
    plain = replace(page, etag=page.etag[:-1] + '-identity"')
    headers["ETag"] = plain.etag
    if not_modified(request.headers.get("if-none-match"), plain):
        return Response(status_code=304, headers=headers)
    return Response(gzip.decompress(page.body), media_type=media_type, headers=headers)


routes = [
    Route("/feed.xml", site_feed, methods=["GET", "HEAD"]),
    Route("/atom.xml", site_feed, methods=["GET", "HEAD"]),
    Route("/people/{id:int}/feed.xml", author_feed, methods=["GET", "HEAD"]),
    Route("/people/{id:int}/atom.xml", author_feed, methods=["GET", "HEAD"]),
    Route("/tags/{tag:path}/feed.xml", tag_feed, methods=["GET", "HEAD"]),
    Route("/tags/{tag:path}/atom.xml", tag_feed, methods=["GET", "HEAD"]),
    Route("/sitemap.xml", site_map, methods=["GET", "HEAD"]),
    Route("/sitemaps/{part:int}.xml", site_map_part, methods=["GET", "HEAD"]),
]
