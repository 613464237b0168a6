"""The web client: server-rendered pages at `/`, their static files at `/static/`.

`Site.for_settings(settings)` gives the routes to mount after the API's (so no page shadows
an API path) and the `Pages` renderer the app keeps in `app.state.pages`.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.routing import BaseRoute, Route

from ..settings import Settings
from .assets import StaticAssets
from .errors import html_errors
from .routes import page_routes
from .templating import Pages

CLOUDINARY_ORIGIN = "https://res.cloudinary.com"


@dataclass
class Site:
    routes: list[BaseRoute]
    pages: Pages

    @classmethod
    def for_settings(cls, settings: Settings) -> "Site":
        assets = StaticAssets.from_package()
        pages = Pages(assets, CLOUDINARY_ORIGIN if settings.cloudinary_url else None)
        routes: list[BaseRoute] = [
            Route("/static/{path:path}", assets, methods=["GET", "HEAD"]),
            *page_routes(),
        ]
        return cls(routes, pages)


__all__ = ["Site", "html_errors"]
