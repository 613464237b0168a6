"""`IndexedRouter`: Starlette's router, with fixed paths found by a dict lookup.

Starlette tries routes one by one, a regular expression each, until one matches. Nirvana has
~60 routes; a request for the ninth (`GET /api/v1/user/me`) paid for eight failed matches
before its own, ~5 % of the server's CPU for that request under wrk (py-spy). Most paths have
no parameters, so a dict from path to its routes finds them in one step.

The index never changes which route answers: a fixed path is indexed only when no route
before it in the list matches that path too (`/users/{name}` listed before `/users/me` keeps
`/users/me` out of the index), and everything the index does not answer with a full match
(another method, a parameterised path, a missing trailing slash) goes through the same scan
as Starlette's, in the same order.

One answer differs, on purpose: a 405. Starlette's `Allow` names the methods of the first
route whose path matched, so `DELETE /api/v1/user/me` answered `Allow: GET, HEAD` although
PATCH is served there too (every method is its own route here). RFC 9110 says `Allow` lists
the methods the resource supports; it now names those of every route of that path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette._utils import get_route_path
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse
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


def literal_prefix(route: BaseRoute) -> str | None:
    """The fixed text every path this route matches starts with (up to its first
    parameter), or None when it may match any path (a route without a path)."""
    path = getattr(route, "path", None)
    if not isinstance(path, str) or getattr(route, "path_regex", None) is None:
        return None
    return path.split("{", 1)[0]


class IndexedRouter(Router):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._index = static_index(self.routes)
        # The scan skips a route whose fixed prefix the path does not start with: its
        # pattern could not match, and a string test costs a fraction of a regex match
        # (one blog, ~46th in the list, spent a quarter of its cached answer scanning).
        self._scan: list[tuple[BaseRoute, str | None]] = []

    def _scan_list(self) -> list[tuple[BaseRoute, str | None]]:
        # Rebuilt when routes were added after start (add_route), so none is ever skipped.
        if len(self._scan) != len(self.routes):
            self._scan = [(route, literal_prefix(route)) for route in self.routes]
        return self._scan

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().app(scope, receive, send)
            return
        scope.setdefault("router", self)
        partial: list[tuple[BaseRoute, Scope]] = []
        for route in self._index.get(get_route_path(scope), ()):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                # A full match of a Route means its method too, so Route.handle would only
                # call its app: called here directly, one frame fewer per request.
                scope["route"] = route
                scope.update(child_scope)
                await route.app(scope, receive, send)
                return
        # Not in the index, or not for this method: Starlette's scan, in its order (a later
        # pattern may still serve this method on this path).
        path = get_route_path(scope)
        for route, prefix in self._scan_list():
            if prefix is not None and not path.startswith(prefix):
                continue
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                await self._handle(route, child_scope, scope, receive, send)
                return
            if match is Match.PARTIAL:
                partial.append((route, child_scope))
        if partial:
            route, child_scope = partial[0]
            scope["route"] = route
            scope.update(child_scope)
            allow = ", ".join(sorted({m for r, _ in partial for m in getattr(r, "methods", ())}))
            if "app" in scope:  # as Route.handle: the app's handlers shape the answer
                raise HTTPException(status_code=405, headers={"Allow": allow})
            await PlainTextResponse("Method Not Allowed", status_code=405,
                                    headers={"Allow": allow})(scope, receive, send)
            return
        await super().app(scope, receive, send)  # no route: the slash redirect, or 404

    @staticmethod
    async def _handle(route: BaseRoute, child_scope: Scope, scope: Scope, receive: Receive,
                      send: Send) -> None:
        # What Router.app does with a full match.
        scope["route"] = route
        scope.update(child_scope)
        await route.handle(scope, receive, send)
