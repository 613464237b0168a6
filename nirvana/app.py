"""`create_app`: the Starlette application, from settings and (optionally) ready services."""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator, Awaitable, Callable

import asyncpg
import orjson
import pymongo.errors
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from .bootstrap import Services
from .http import errors as http_errors
from .http.api import Api
from .http.middleware import RequestContextMiddleware
from .http.openapi import build_openapi
from .http.router import IndexedRouter
from .http.routes import blogs, chat, chat_manage, health, media, people, social, users
from .settings import Settings
from .web import Site, html_errors
from .ws.endpoint import chat_socket

API_MODULES: list[Api] = [
    health.api, users.api, people.api, social.api, media.api, blogs.api, chat.api,
    chat_manage.api,
]

STORE_ERRORS: dict[type[BaseException], str] = {
    asyncpg.PostgresConnectionError: "PostgreSQL",
    asyncpg.InterfaceError: "PostgreSQL",
    asyncpg.exceptions.QueryCanceledError: "PostgreSQL",
    asyncpg.exceptions.CannotConnectNowError: "PostgreSQL",
    pymongo.errors.ConnectionFailure: "MongoDB",
    pymongo.errors.ServerSelectionTimeoutError: "MongoDB",
    pymongo.errors.ExecutionTimeout: "MongoDB",
    TimeoutError: "A database",
    ConnectionError: "A database",
}

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

    def __init__(self, *, routes: list, lifespan: Any, **kwargs: Any) -> None:
        super().__init__(routes=routes, lifespan=lifespan, **kwargs)
        self.router = IndexedRouter(routes, lifespan=lifespan)
        if self.user_middleware:
            raise TypeError("NirvanaApp builds its own middleware stack; add to it there")
        self.middleware_stack = RequestContextMiddleware(
            self.router, handlers=self.exception_handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        if scope["type"] == "websocket" and scope["path"] == "/ws":
            await chat_socket(WebSocket(scope, receive, send))
            return
        await self.middleware_stack(scope, receive, send)


def create_app(
    settings: Settings,
    services: Services | None = None,
    open_services: Callable[[], Awaitable[Services]] | None = None,
) -> Starlette:
    """Pass `services` (already open; the caller closes them) or `open_services` (opened at
    startup and closed at shutdown by the app's lifespan)."""

    specs = [s for module in API_MODULES for s in module.specs]
    openapi = orjson.dumps(
        build_openapi(specs, title="Nirvana", version="1.0.0", description=DESCRIPTION)
    )

    def authenticate(request: Request):
        return request.app.state.services.authenticator(request)

    async def openapi_json(request: Request) -> Response:
        return Response(openapi, media_type="application/json")

    routes: list = [Route("/openapi.json", openapi_json, methods=["GET"]),
                    WebSocketRoute("/ws", chat_socket)]
    for module in API_MODULES:
        routes.extend(module.routes(authenticate, settings.max_json_body))
    site = Site.for_settings(settings)
    routes.extend(site.routes)  # the web client, after the API so no page shadows it

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if services is not None:
            app.state.services = services
            yield
            return
        assert open_services is not None, "create_app needs services or open_services"
        opened = await open_services()
        app.state.services = opened
        try:
            yield
        finally:
            await opened.close()

    app = NirvanaApp(
        routes=routes,
        exception_handlers=html_errors(http_errors.handlers(STORE_ERRORS)),
        lifespan=lifespan,
    )
    if services is not None:
        app.state.services = services
    app.state.settings = settings
    app.state.pages = site.pages
    return app

