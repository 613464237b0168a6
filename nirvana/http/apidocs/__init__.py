"""Interactive API reference at /docs: the vendored Swagger UI (see swagger-ui/VERSION.md)
rendering /openapi.json, served from this package with no CDN."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

HERE = Path(__file__).parent
# Everything the page loads comes from this server: scripts, styles, the description it
# renders and the requests "Try it out" sends. Swagger UI's stylesheet embeds two small
# images as data: URLs, hence img-src.
CSP = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
PAGE_HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "no-cache"}


class _Assets(StaticFiles):
    """The vendored files and start.js, each with the page's CSP."""

    def file_response(self, *args, **kwargs) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Content-Security-Policy"] = CSP
        return response


async def _page(request: Request) -> Response:
    return FileResponse(HERE / "page.html", media_type="text/html", headers=PAGE_HEADERS)


async def _start_js(request: Request) -> Response:
    return FileResponse(HERE / "start.js", media_type="text/javascript",
                        headers={"Content-Security-Policy": CSP})


def routes() -> list:
    return [Route("/docs", _page, methods=["GET"]),
            Route("/docs/assets/start.js", _start_js, methods=["GET"]),
            Mount("/docs/assets", app=_Assets(directory=HERE / "swagger-ui"))]
