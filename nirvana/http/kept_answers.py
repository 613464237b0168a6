"""`KeptAnswers`: anonymous GETs that the page cache answers, found by their exact target
before the router.

A kept read (one blog, a feed page, a search, the RSS feed, a sitemap part, a page of the
web client) cost ~2x hello-JSON's CPU under wrk although its answer was already made: the
router's scan, the endpoint's Request, credentials check, query validation and Call, the
cached-page lookup and the Response, each a few µs in a loop and several times that between
a real server's socket reads (docs/performance.md, "Reads at scale"). A route that has just
answered an anonymous GET from the page cache hands this layer how to answer that same
target again (`remember`); the next identical request is answered here, from the cache, or
goes on to the router as before when the page is no longer fresh.

What makes it safe to skip the route:
- the same raw path and query string reach the same route with the same parameters and
  the same validated query (the first request passed them all);
- only anonymous requests: any `Authorization` or `Cookie` header goes to the router,
  where credentials are read (a cookie may also renew a web session);
- the answer function reads the content versions and freshness afresh each time, exactly
  as the route does, and answers None (to the router) whenever the route would rebuild;
- only GET (HEAD and every other method are routed).
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

# How a remembered target is answered again: the kept response, or None to route it.
Answer = Callable[[Request], Response | None]

# Targets longer than this are not remembered: a key is held for as long as it is read.
MAX_TARGET = 1024
CREDENTIALS = (b"authorization", b"cookie")


class KeptAnswers:
    """The app in front of the router (inside RequestContextMiddleware, so request ids,
    security headers, the access line and metrics are as for any request)."""

    def __init__(self, app: ASGIApp, size: int = 4096) -> None:
        self.app = app
        self._size = size
        self._answers: dict[tuple[bytes, bytes], tuple[BaseRoute, Answer]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and self._answers:
            key = (scope.get("raw_path") or b"", scope["query_string"])
            found = self._answers.get(key)
            if found is not None and not any(name in CREDENTIALS
                                             for name, _ in scope["headers"]):
                route, answer = found
                response = answer(Request(scope, receive))
                if response is not None:
                    scope["route"] = route  # for the access line and metrics
                    await response(scope, receive, send)
                    return
                # No longer fresh: the route rebuilds it and remembers the target again.
                self._answers.pop(key, None)
        await self.app(scope, receive, send)

    def remember(self, scope: Scope, answer: Answer) -> None:
        """Answer later anonymous GETs of this request's exact target with `answer`. Called
        by a route that has just answered an anonymous GET from the page cache."""
        raw_path = scope.get("raw_path")
        route = scope.get("route")
        if (scope.get("method") != "GET" or raw_path is None or route is None
                or len(raw_path) + len(scope["query_string"]) > MAX_TARGET):
            return
        if len(self._answers) >= self._size:
            # Oldest first: a target still read comes back on its next routed request.
            del self._answers[next(iter(self._answers))]
        self._answers[(raw_path, scope["query_string"])] = (route, answer)


def remember(request: Request, answer: Answer) -> None:
    """`KeptAnswers.remember` for this request, when the app has that layer."""
    kept: KeptAnswers | None = getattr(request.app, "kept_answers", None)
    if kept is not None:
        kept.remember(request.scope, answer)
