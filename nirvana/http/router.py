"""`IndexedRouter`: Starlette's router, with fixed paths found by a dict lookup.

Starlette tries routes one by one, a regular expression each, until one matches. Nirvana has
~60 routes; a request for the ninth (`GET /api/v1/user/me`) paid for eight failed matches
before its own, ~5 % of the server's CPU for that request under wrk (py-spy). Most paths have
no parameters, so a dict from path to its routes finds them in one step.

The index never changes which route answers: a fixed path is indexed only when no route
before it in the list matches that path too (`/users/{name}` listed before `/users/me` keeps
`/users/me` out of the index), and everything the index does not answer with a full match
(another method: 405; a parameterised path; a missing trailing slash) goes through
Starlette's own scan, unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send


def static_index(routes: Sequence[BaseRoute]) -> dict[str, list[Route]]:
    """Fixed path -> the routes with exactly that path, in list order; only paths that no
    earlier route of another path could also match."""
    index: dict[str, list[Route]] = {}
    seen: list[BaseRoute] = []
    for route in routes:
        if isinstance(route, Route) and not route.param_convertors:
            if not any(_may_match(earlier, route.path) for earlier in seen):
                index.setdefault(route.path, []).append(route)
        seen.append(route)
    return index


def _may_match(route: BaseRoute, path: str) -> bool:
    if isinstance(route, Route) and route.path == path:
        return False  # the same path: a sibling in the index, tried in list order there
    regex = getattr(route, "path_regex", None)
    # A route without a path pattern (a Host, a custom BaseRoute) might match anything.
    return regex is None or regex.match(path) is not None


class IndexedRouter(Router):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._index = static_index(self.routes)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            candidates = self._index.get(get_route_path(scope))
            if candidates is not None:
                for route in candidates:
                    match, child_scope = route.matches(scope)
                    if match is Match.FULL:
                        # What Router.app does for a full match.
                        scope.setdefault("router", self)
                        scope["route"] = route
                        scope.update(child_scope)
                        await route.handle(scope, receive, send)
                        return
        await super().app(scope, receive, send)
