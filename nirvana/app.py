"""`create_app`: the Starlette application, from settings and (optionally) ready services."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
from typing import Any, AsyncIterator, Awaitable, Callable

import orjson
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from .bootstrap import Services
from .driver_errors import UNAVAILABLE_TYPES, classify
from .metrics import CONTENT_TYPE_LATEST
from .tasks import cancel_and_wait
from .http import apidocs
from .http import errors as http_errors
from .http.api import Api
from .http.errors import error_response
from .http.kept_answers import KeptAnswers
from .http.middleware import RequestContextMiddleware
from .http.openapi import build_openapi
from .http.router import IndexedRouter
from .http.routes import (
    blogs,
    chat_seed,
    conversations,
    email,
    exports,
    health,
    media,
    messages,
    moderation,
    notifications,
    people,
    realtime,
    sessions,
    social,
    two_factor,
    users,
)
from .settings import Settings
from .web import Site, html_errors
from .ws.endpoint import chat_socket

API_MODULES: list[Api] = [
    health.api, users.api, sessions.api, email.api, two_factor.api, exports.api, people.api,
    social.api, media.api, blogs.api,
    realtime.api, conversations.api, messages.api, chat_seed.api, notifications.api,
    moderation.api,
]

# What a page on a CORS_ORIGINS origin may send and read. Credentials (the jwt cookie) are
# allowed: such an origin is trusted for cookie writes as well (Settings.trusted_origins).
CORS_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
CORS_REQUEST_HEADERS = ["Authorization", "Content-Type", "X-Request-ID", "Idempotency-Key"]
CORS_EXPOSED_HEADERS = ["X-Request-ID", "Retry-After", "Allow", "RateLimit",
                        "RateLimit-Policy", "Idempotent-Replayed"]

DESCRIPTION = (
    "Nirvana's HTTP API. Every error answers `{\"error\": {\"code\", \"message\", "
    "\"details\"?}}`. Authenticate with `Authorization: Bearer <jwt>` or the httpOnly `jwt` "
    "cookie (cookie-authenticated writes must come from an allowed Origin). The WebSocket "
    "protocol is described in docs/protocol.md."
)


class NirvanaApp(Starlette):
    """Starlette, with /ws reached directly. A socket lives for hours, and every ASGI layer
    it passes through keeps a coroutine frame alive for all that time: the error and
    exception middleware, the router and the route's wrapper held ~5 KiB of each idle
    socket's ~30 KiB (tracemalloc, 1,000 sockets). None of them acts on our socket: the
    endpoint answers its own errors, and RequestContextMiddleware passes WebSockets through.
    Any other WebSocket path still goes through the router (and is refused there).

    Every HTTP request passes one layer, RequestContextMiddleware, then the router: Starlette
    would put its ServerErrorMiddleware before it and its ExceptionMiddleware after it, each
    a frame and a `send` closure per request doing what that layer already does (the 500 of
    last resort; the error table). With the router calling a matched route's app directly
    and one frame per endpoint (api.AsgiEndpoint), `/health` went from 15.5 to 12.8 µs in
    process and `/me` from 22.9 to 20.4 (`python -m bench.asgi_loop`). HTTP routes are found
    by IndexedRouter (see nirvana/http/router.py)."""

    def __init__(self, *, routes: list, lifespan: Any, settings: Settings,
                 **kwargs: Any) -> None:
        super().__init__(routes=routes, lifespan=lifespan, **kwargs)
        self.router = IndexedRouter(routes, lifespan=lifespan)
        if self.user_middleware:
            raise TypeError("NirvanaApp builds its own middleware stack; add to it there")
        # Anonymous GETs the page cache answers skip the router (http/kept_answers.py).
        self.kept_answers = KeptAnswers(self.router)
        self.request_context = RequestContextMiddleware(
            self.kept_answers, handlers=self.exception_handlers)
        self.middleware_stack = self.request_context
        if settings.cors_origins:
            # Outside the error handling, so that error responses carry the CORS headers
            # too (a page must be able to read a 401's body).
            self.middleware_stack = ListedOriginsCORS(self.middleware_stack,
                                                      settings.cors_origins)
        # uvicorn's proxy-header support, applied here rather than by uvicorn: uvicorn would
        # wrap the app, hiding its `state` from run.py's shutdown hook.
        self._entry: Callable[[Scope, Receive, Send], Awaitable[None]] = self._dispatch
        if settings.forwarded_allow_ips:
            self._entry = ProxyHeadersMiddleware(self._dispatch,
                                                 trusted_hosts=settings.forwarded_allow_ips)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._entry(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        if scope["type"] == "websocket" and scope["path"] == "/ws":
            await chat_socket(WebSocket(scope, receive, send))
            return
        await self.middleware_stack(scope, receive, send)

    def use(self, services: Services) -> None:
        """Serve with these services: the routes find them in `app.state`, and requests are
        measured when they carry metrics."""
        self.state.services = services
        if services.metrics is not None:
            self.request_context.observer = services.metrics.http


class ListedOriginsCORS:
    """Starlette's CORSMiddleware, for requests from a listed origin only. Any other request
    goes past it untouched and gets no Access-Control-* header: Starlette would answer an
    unlisted origin's preflight 400 with the allowed methods and headers, and its other
    requests with `Access-Control-Allow-Credentials: true`."""

    def __init__(self, app: ASGIApp, origins: tuple[str, ...]) -> None:
        self._app = app
        self._origins = frozenset(o.encode("latin-1") for o in origins)
        self._cors = CORSMiddleware(
            app, allow_origins=list(origins), allow_credentials=True,
            allow_methods=CORS_METHODS, allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_EXPOSED_HEADERS, max_age=600)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"origin":
                    if value in self._origins:
                        await self._cors(scope, receive, send)
                        return
                    break
        await self._app(scope, receive, send)


@functools.cache
def _openapi_json() -> bytes:
    # From the route modules' specs alone, the same for every app of the process: built
    # once, as pydantic's schema generation is most of what building an app costs
    # (docs/performance.md, "The test suite's time").
    specs = [s for module in API_MODULES for s in module.specs]
    return orjson.dumps(
        build_openapi(specs, title="Nirvana", version="1.0.0", description=DESCRIPTION))


def create_app(
    settings: Settings,
    services: Services | None = None,
    open_services: Callable[[], Awaitable[Services]] | None = None,
) -> Starlette:
    """Pass `services` (already open; the caller closes them) or `open_services` (opened at
    startup and closed at shutdown by the app's lifespan)."""

    openapi = _openapi_json()

    def authenticate(request: Request):
        return request.app.state.services.authenticator(request)

    async def openapi_json(request: Request) -> Response:
        return Response(openapi, media_type="application/json")

    async def metrics(request: Request) -> Response:
        # Not served at all unless a token is set: operational data is not for the public.
        metrics = request.app.state.services.metrics
        token = settings.metrics_token
        if token is None or metrics is None:
            return error_response(404, "not_found", "Not found.")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                 token.encode()):
            return error_response(401, "unauthenticated", "Send the metrics token as "
                                  "'Authorization: Bearer <METRICS_TOKEN>'.",
                                  headers={"WWW-Authenticate": "Bearer"})
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    routes: list = [Route("/openapi.json", openapi_json, methods=["GET"]),
                    Route("/metrics", metrics, methods=["GET"]),
                    WebSocketRoute("/ws", chat_socket), *apidocs.routes()]
    for module in API_MODULES:
        routes.extend(module.routes(authenticate, settings.max_json_body))
    site = Site.for_settings(settings)
    routes.extend(site.routes)  # the web client, after the API so no page shadows it

    @contextlib.asynccontextmanager
    async def lifespan(app: NirvanaApp) -> AsyncIterator[None]:
        if services is not None:
            opened = services
        else:
            assert open_services is not None, "create_app needs services or open_services"
            opened = await open_services()
        app.use(opened)
        lag = None
        stop_gc_watch = None
        if opened.metrics is not None:
            lag = asyncio.get_running_loop().create_task(opened.metrics.watch_loop(),
                                                         name="loop-lag")
            stop_gc_watch = opened.metrics.watch_gc()
        try:
            yield
        finally:
            await cancel_and_wait(lag)
            if stop_gc_watch is not None:
                stop_gc_watch()
            if services is None:
                await opened.close()

    handlers = http_errors.handlers()
    for error_class in UNAVAILABLE_TYPES:
        handlers[error_class] = _counted(handlers[error_class])
    app = NirvanaApp(
        routes=routes,
        exception_handlers=html_errors(handlers),
        lifespan=lifespan,
        settings=settings,
    )
    if services is not None:
        app.use(services)
    app.state.settings = settings
    app.state.pages = site.pages
    return app


def _counted(handler: Callable[[Request, Exception], Awaitable[Response]]
             ) -> Callable[[Request, Exception], Awaitable[Response]]:
    """A store-unavailable error's handler, counting the error first when metrics are on."""

    async def handle(request: Request, exc: Exception) -> Response:
        metrics = request.app.state.services.metrics
        if metrics is not None:
            _, store = classify(exc)
            label = {"PostgreSQL": "postgresql", "MongoDB": "mongodb"}.get(store, "unknown")
            metrics.store_errors.labels(label).inc()
        return await handler(request, exc)

    return handle

