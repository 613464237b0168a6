"""Every page route, gathered from the modules under `pages/`: one list to add a module to."""

from __future__ import annotations

from starlette.routing import BaseRoute

from .pages import accounts, home, people, reading, writing

PAGE_MODULES = [home, accounts, reading, people, writing]


def page_routes() -> list[BaseRoute]:
    return [route for module in PAGE_MODULES for route in module.routes]
