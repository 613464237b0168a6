"""Errors on pages answered as pages, in the product's words, by the API's one error table.

`html_errors` wraps every handler of the app's table: the handler decides status, code,
message and headers as for the API; a request for a page (not /api/, /ws, /static/, ...) that
asks for HTML gets that answer as an HTML page instead of JSON. API routes keep their JSON.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Awaitable, Callable
from urllib.parse import quote, urlsplit

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ..http.errors import error_response
from .templating import SITE_NAME, page_headers

log = logging.getLogger("nirvana.web")
Handler = Callable[[Request, Exception], Awaitable[Response]]

# Paths whose answers are for programs: their errors stay JSON. Not /media/: a browser opens
# a file there too (a chat's link), and a navigation to a deleted one gets the page; an
# <img>, a <video> or an API client does not ask for text/html and keeps the JSON.
MACHINE_PREFIXES = ("/api/", "/ws", "/static/", "/health", "/ready", "/openapi.json")

TITLES = {
    400: "That request did not work",
    403: "You cannot do that",
    404: "Nothing here",
    405: "Nothing here",
    409: "That changed in the meantime",
    413: "That is too large",
    415: "That kind of file is not accepted",
    422: "Something in the form needs fixing",
    429: "Slow down a little",
    500: "Something went wrong on our side",
    503: "Nirvana is unavailable for a moment",
}
EXPLANATIONS = {
    404: "This page does not exist, or it is not visible to you.",
    405: "This page does not exist, or it is not visible to you.",
    503: "A part of Nirvana is not answering. Your data is safe; try again shortly.",
}


def is_page_path(path: str) -> bool:
    return not path.startswith(MACHINE_PREFIXES)


def wants_page(request: Request) -> bool:
    # A browser's navigation asks for text/html; curl, httpx and scripts get the JSON.
    return is_page_path(request.url.path) and "text/html" in request.headers.get("accept", "")


def _return_to(request: Request) -> str:
    """Where to come back after signing in: this page, or for a form POST (whose URL has no
    page) the page the form was on."""
    if request.method in ("GET", "HEAD"):
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc == request.url.netloc and referer.path.startswith("/"):
        return referer.path + (f"?{referer.query}" if referer.query else "")
    return "/"


def _wait_text(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


async def error_page(request: Request, status: int, code: str, message: str,
                     headers: dict[str, str] | None = None) -> Response:
    if status == 401:
        response: Response = RedirectResponse(
            f"/signin?next={quote(_return_to(request), safe='')}", 303)
        return response
    retry = (headers or {}).get("retry-after") or (headers or {}).get("Retry-After")
    wait = _wait_text(int(float(retry))) if retry and status in (429, 503) else None
    context = {
        "status": status,
        "code": code,
        "title": TITLES.get(status, "Something went wrong"),
        "message": EXPLANATIONS.get(status, message),
        "wait": wait,
    }
    pages = getattr(request.app.state, "pages", None)
    kept = {k: v for k, v in (headers or {}).items() if k.lower() == "retry-after"}
    if pages is None:
        return HTMLResponse(f"<h1>{SITE_NAME}: {status}</h1>", status, headers=kept)
    try:
        return await pages.render(request, "error.html", context, status=status, headers=kept)
    except Exception:
        # The reader could not be looked up (a store is down): the page without them.
        log.warning("error page rendered without its reader", exc_info=True)
        html = pages.templates.get_template("error.html").render(
            {"request": request, "reader": None, "path": request.url.path, **context})
        return HTMLResponse(html, status,
                            headers={**page_headers(request, pages.media_origin), **kept})


def html_errors(handlers: dict[Any, Handler]) -> dict[Any, Handler]:
    def wrap(handler: Handler) -> Handler:
        async def answer(request: Request, exc: Exception) -> Response:
            response = await handler(request, exc)
            if not is_page_path(request.url.path):
                return response
            if wants_page(request) and response.media_type == "application/json":
                error = orjson.loads(response.body).get("error", {})
                response = await error_page(request, response.status_code,
                                            error.get("code", "error"), error.get("message", ""),
                                            dict(response.headers))
            # The page or the JSON, by Accept: a cache (a CDN keeping a /media/ 404) must not
            # give one to a client that asked for the other.
            response.headers.add_vary_header("Accept")
            return response

        return answer

    return {key: wrap(handler) for key, handler in handlers.items()}


PageEndpoint = Callable[[Request], Awaitable[Response]]


def page_endpoint(endpoint: PageEndpoint) -> PageEndpoint:
    """A page's endpoint whose unexpected failure is a page too. Errors the app's table knows
    pass on to it; anything else is logged here, once, and answered with a 500 page naming
    the request id, as the API's 500 does."""

    @functools.wraps(endpoint)
    async def answer(request: Request) -> Response:
        try:
            return await endpoint(request)
        except ClientDisconnect:
            raise  # the client left mid-body: the middleware records it (499), no 500 page
        except Exception as exc:
            known = request.app.exception_handlers
            if any(isinstance(exc, cls) for cls in known if isinstance(cls, type)):
                raise
            request_id = request.scope.get("state", {}).get("request_id", "-")
            log.exception("unhandled error", extra={"request_id": request_id,
                                                    "path": request.url.path})
            if wants_page(request):
                response = await error_page(request, 500, "internal_error",
                                            f"Sorry: this page failed (request {request_id}). "
                                            "Try again in a moment.")
            else:  # as the last-resort 500 of the middleware, which would send no Vary
                response = error_response(500, "internal_error", "Something went wrong on "
                                          f"our side (request {request_id}).")
            response.headers.add_vary_header("Accept")  # as `html_errors`
            return response

    return answer
