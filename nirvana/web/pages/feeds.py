"""Feeds for readers: RSS 2.0 and Atom for the site, each author and each tag, and the sitemap.

Always as an anonymous reader sees the site (cookies are ignored): a feed reader or crawler
may be shared, so nothing in these documents depends on who asked. Built by `web/feeds.py`.
"""

from __future__ import annotations

from typing import Callable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import domain
from ..feeds import FeedInfo, atom, rss, sitemap
from .people import person_id

FEED_SIZE = 20
# The sitemap protocol's limit per file; a larger site needs a sitemap index (not yet).
SITEMAP_SIZE = 50_000
RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
# Public documents, the same for everyone: shared caches may keep them a little while.
HEADERS = {"Cache-Control": "public, max-age=60", "X-Content-Type-Options": "nosniff"}


def services(request: Request):
    return request.app.state.services


def base_url(request: Request) -> str:
    return request.app.state.settings.base_url


Builder = Callable[[FeedInfo, list, str], bytes]
FORMATS: dict[str, tuple[Builder, str]] = {"feed.xml": (rss, RSS_TYPE),
                                           "atom.xml": (atom, ATOM_TYPE)}


def document(request: Request, name: str, info: FeedInfo, blogs: list) -> Response:
    build, media_type = FORMATS[name]
    return Response(build(info, blogs, base_url(request)), media_type=media_type,
                    headers=HEADERS)


async def site_feed(request: Request) -> Response:
    name = request.url.path.rsplit("/", 1)[1]
    page = await services(request).blogs.feed(None, None, FEED_SIZE)
    base = base_url(request)
    info = FeedInfo("Nirvana", "The newest blogs on Nirvana.", base + "/",
                    f"{base}/{name}")
    return document(request, name, info, page.blogs)


async def author_feed(request: Request) -> Response:
    name = request.url.path.rsplit("/", 1)[1]
    uid = person_id(request)
    person = (await services(request).social.profile(None, uid)).user.person
    blogs, _ = await services(request).blogs.search(
        None, domain.BlogFilter(author_id=uid), 1, FEED_SIZE)
    base = base_url(request)
    info = FeedInfo(f"{person.name} on Nirvana", f"The newest blogs by {person.name}.",
                    f"{base}/people/{uid}", f"{base}/people/{uid}/{name}")
    return document(request, name, info, blogs)


async def tag_feed(request: Request) -> Response:
    name = request.url.path.rsplit("/", 1)[1]
    tag = request.path_params["tag"]
    blogs, _ = await services(request).blogs.search(
        None, domain.BlogFilter(tag=tag), 1, FEED_SIZE)
    base = base_url(request)
    page = f"{base}/tags/{quote(tag, safe='')}"
    info = FeedInfo(f"#{tag} on Nirvana", f"The newest blogs tagged {tag}.", page,
                    f"{page}/{name}")
    return document(request, name, info, blogs)


async def site_map(request: Request) -> Response:
    pages = await services(request).blogs.public_pages(SITEMAP_SIZE)
    return Response(sitemap(base_url(request), pages),
                    media_type="application/xml; charset=utf-8", headers=HEADERS)


routes = [
    Route("/feed.xml", site_feed, methods=["GET", "HEAD"]),
    Route("/atom.xml", site_feed, methods=["GET", "HEAD"]),
    Route("/people/{id:int}/feed.xml", author_feed, methods=["GET", "HEAD"]),
    Route("/people/{id:int}/atom.xml", author_feed, methods=["GET", "HEAD"]),
    Route("/tags/{tag}/feed.xml", tag_feed, methods=["GET", "HEAD"]),
    Route("/tags/{tag}/atom.xml", tag_feed, methods=["GET", "HEAD"]),
    Route("/sitemap.xml", site_map, methods=["GET", "HEAD"]),
]
