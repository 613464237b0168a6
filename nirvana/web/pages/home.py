"""The home page: the feed of published blogs, newest first, paged by cursor."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .. import domain
from ...http.kept_answers import remember
from ..session import reader_of
from ..templating import pages_of

FEED_PAGE = 10


async def home(request: Request) -> Response:
    reader = await reader_of(request)
    following = request.query_params.get("following") == "1" and reader.user is not None
    cursor = request.query_params.get("after")
    if reader.user is None and cursor is None:
        # Every first visit lands here: the same page for every anonymous reader, kept.
        async def first_page() -> dict:
            feed = await request.app.state.services.blogs.feed(None, None, FEED_PAGE)
            return {"blogs": feed.blogs, "following": False, "first_page": True,
                    "next_url": f"/?after={domain.encode_cursor(feed.next)}"
                    if feed.next is not None else None}

        pages = pages_of(request)
        response = await pages.render_for_anyone(request, "home.html", "home", first_page)
        remember(request, lambda again: pages.fresh_for_anyone(again, "home"))
        return response
    after = domain.decode_cursor(cursor) if cursor else None
    feed = await request.app.state.services.blogs.feed(reader.id, after, FEED_PAGE,
                                                       following=following)
    next_url = None
    if feed.next is not None:
        next_url = f"/?after={domain.encode_cursor(feed.next)}" + (
            "&following=1" if following else "")
    return await pages_of(request).render(request, "home.html", {
        "blogs": feed.blogs, "following": following, "next_url": next_url,
        "first_page": cursor is None,
    })


async def favicon(request: Request) -> Response:
    """Browsers and crawlers ask /favicon.ico whatever the page's <link rel="icon"> says:
    sent on to the icon, so they stop logging 404s. The plain name (served by ETag), not
    the hashed one: a browser keeps a 301 long after a new icon retires the old hash."""
    return RedirectResponse("/static/favicon.svg", 301,
                            headers={"Cache-Control": "public, max-age=86400"})


routes = [Route("/", home, methods=["GET", "HEAD"]),
          Route("/favicon.ico", favicon, methods=["GET", "HEAD"])]
