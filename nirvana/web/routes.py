"""Every page route, gathered from the modules under `pages/`: one list to add a module to."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from .errors import page_endpoint
from .pages import (accounts, chat, exports, feeds, files, home, moderation,
                    notification_settings, notifications, people, reading, security, writing)

# feeds before reading: a tag's page route takes any path, its feeds' must be tried first.
PAGE_MODULES = [home, accounts, security, exports, feeds, reading, people, writing, chat,
                notifications, moderation, notification_settings, files]


def page_routes() -> list[BaseRoute]:
    """The routes of every module, each endpoint answering its unexpected errors as a page."""
    return [Route(r.path, page_endpoint(r.endpoint), methods=r.methods, name=r.name)
            if isinstance(r, Route) else r
            for module in PAGE_MODULES for r in module.routes]
