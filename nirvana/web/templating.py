"""Rendering a page: one Jinja2 environment (autoescaped, templates from this package) and the
headers every page carries, the Content-Security-Policy first."""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Hashable
from urllib.parse import quote

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.templating import Jinja2Templates

from ..domain.notifications.entities import UNREAD_COUNTED
from ..http.page_cache import Version, answer
from .assets import StaticAssets
from .forms import KEY_FIELD, new_form_key
from .markdown import render_markdown
from .session import reader_of

SITE_NAME = "Nirvana"
# What the reaction picker shows of each kind: the kind sent (also its icon's name in
# partials/icons.html) and its name.
REACTION_KINDS = (("like", "Like"), ("love", "Love"), ("haha", "Haha"), ("wow", "Wow"),
                  ("sad", "Sad"), ("angry", "Angry"))


def slug_path(slug: str) -> str:
    """A blog's page by its slug, percent-encoded (slugs may be non-Latin)."""
    return "/blogs/" + quote(slug, safe="")


def blog_path(blog: Any) -> str:
    """A blog's page: its current slug."""
    return slug_path(blog.slug)


def content_security_policy(request: Request, media_origin: str | None) -> str:
    # 'self' covers ws: in CSP Level 3 browsers; the explicit ws(s) origin covers the rest.
    ws = ("wss://" if request.url.scheme == "https" else "ws://") + request.url.netloc
    images = "'self' data: blob:" + (f" {media_origin}" if media_origin else "")
    return ("default-src 'self'; script-src 'self'; style-src 'self'; "
            f"img-src {images}; media-src 'self'{f' {media_origin}' if media_origin else ''}; "
            f"connect-src 'self' {ws}; font-src 'self'; "
            "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def referrer_policy(request: Request) -> str:
    # A page whose URL holds a credential (a mailed link's ?token=: reset, verify,
    # unsubscribe) gives what it loads only its origin as Referer, so the token reaches no
    # log (a proxy's among them). Not no-referrer: a form POST would then carry
    # `Origin: null`, which the form Origin check must refuse.
    return "strict-origin" if "token" in request.query_params else "same-origin"


def page_headers(request: Request, media_origin: str | None) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(request, media_origin),
        "Referrer-Policy": referrer_policy(request),
        "X-Frame-Options": "DENY",
        # Pages differ per reader: never kept by shared caches.
        "Cache-Control": "private, no-cache",
    }


def _environment(assets: StaticAssets) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("nirvana.web", "templates"),
        autoescape=True,  # every template, whatever its name
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.globals["static_url"] = assets.url
    env.globals["site_name"] = SITE_NAME
    env.globals["reaction_kinds"] = REACTION_KINDS
    env.globals["new_form_key"] = new_form_key
    env.globals["key_field"] = KEY_FIELD
    env.filters["markdown"] = render_markdown
    env.filters["blog_url"] = blog_path
    env.filters["date"] = lambda at: at.strftime("%-d %b %Y") if at else ""
    env.filters["datetime_iso"] = lambda at: at.isoformat() if at else ""
    env.filters["date_time"] = lambda at: at.strftime("%-d %b %Y, %H:%M UTC") if at else ""
    env.filters["bytes"] = human_bytes
    env.filters["unread"] = unread_label
    env.globals["unread_counted"] = UNREAD_COUNTED
    return env


def unread_label(unread: int) -> str:
    """The bell's count: the bound of the unread count means that many or more
    (docs/protocol.md, Notifications), so "999+"; static/js/bell.js shows frames the same way."""
    return f"{UNREAD_COUNTED - 1}+" if unread >= UNREAD_COUNTED else str(unread)


class Pages:
    """What page routes render with; one per app (`request.app.state.pages`)."""

    def __init__(self, assets: StaticAssets, media_origin: str | None = None) -> None:
        self.assets = assets
        self.media_origin = media_origin
        self.templates = Jinja2Templates(env=_environment(assets))

    async def render(self, request: Request, name: str, context: dict[str, Any] | None = None,
                     status: int = 200, headers: dict[str, str] | None = None) -> Response:
        reader = await reader_of(request)
        ctx = {"reader": reader.user, "path": request.url.path, **(context or {})}
        if reader.user is not None:  # the bell in the header
            ctx["unread_notifications"] = await request.app.state.services.notifications \
                .unread_count(reader.user.id)
        template = self.templates.get_template(name)
        html = template.render({"request": request, **ctx})
        response = HTMLResponse(html, status_code=status,
                                headers={**page_headers(request, self.media_origin),
                                         **(headers or {})})
        return reader.finish(request, response)

    async def render_for_anyone(self, request: Request, name: str, key: Hashable,
                                context: Callable[[], Awaitable[dict[str, Any]]],
                                version: Version | None = None,
                                max_age: float | None = None) -> Response:
        """A page as every anonymous reader sees it, from the page cache, with an ETag (a
        reader holding these bytes gets 304). Exact for every publish, edit, audience change
        and delete (`content_version`, or the finer `version` the caller passes); counts at
        most `max_age` old (the cache's second by default), names at most `names_max_age`.
        The caller checks that the reader is anonymous; the HTML holds nothing of the
        request but its path."""
        reader = await reader_of(request)
        services = request.app.state.services

        async def build() -> bytes:
            ctx = {"reader": None, "path": request.url.path, **(await context())}
            return self.templates.get_template(name).render(
                {"request": request, **ctx}).encode()

        activity = None
        if version is None:  # a list: exact for what it shows, counts refreshed once moved
            version = services.blogs.content_version
            activity = services.blogs.activity_version
        page = await services.page_cache.page(("web", key), version, build, max_age, activity)
        response = answer(request.headers.get("if-none-match"), page, "text/html",
                          page_headers(request, self.media_origin))
        return reader.finish(request, response)

    def fresh_for_anyone(self, request: Request, key: Hashable, version: Version | None = None,
                         max_age: float | None = None) -> Response | None:
        """What `render_for_anyone` answers when the page cache holds the page fresh (no
        rebuild due), else None; it never builds. For a reader known to be anonymous (no
        cookie): what a route remembers for the same request (http/kept_answers.py)."""
        services = request.app.state.services
        activity = None
        if version is None:
            version = services.blogs.content_version
            activity = services.blogs.activity_version
        page = services.page_cache.fresh_page(("web", key), version, max_age, activity)
        if page is None:
            return None
        return answer(request.headers.get("if-none-match"), page, "text/html",
                      page_headers(request, self.media_origin))


def pages_of(request: Request) -> Pages:
    return request.app.state.pages


def human_bytes(n: int) -> str:
    """1234567 -> "1.2 MB": decimal units, as the size limits are written in the README."""
    if n < 1000:
        return f"{n} bytes"
    for unit in ("kB", "MB", "GB", "TB"):
        n /= 1000
        if n < 1000 or unit == "TB":
            return f"{n:.1f} {unit}".replace(".0 ", " ")
    raise AssertionError("unreachable")
