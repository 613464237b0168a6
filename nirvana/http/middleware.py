"""The one ASGI layer in front of the router: request ids, one access-log line per request,
errors answered through the error table, and the 500 of last resort.

Written against raw ASGI rather than BaseHTTPMiddleware so it adds no task or buffering to
every request (and passes WebSockets and the lifespan through untouched). It takes the place
of Starlette's ServerErrorMiddleware and ExceptionMiddleware too (see `NirvanaApp`): each of
those wrapped `send` in a closure of its own and added a coroutine frame to every request,
to do what this layer already did around the same call.
"""

from __future__ import annotations

import logging
import itertools
import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..logs import log_access
from .errors import error_response

access_log = logging.getLogger("nirvana.access")
error_log = logging.getLogger("nirvana.error")
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
NOSNIFF = (b"x-content-type-options", b"nosniff")
ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


class RequestContextMiddleware:
    """`handlers` maps exception classes to async handlers returning the error's response;
    an exception is answered by the handler of the nearest class in its MRO, as Starlette's
    ExceptionMiddleware does (class keys only: Nirvana has no per-status handlers)."""

    def __init__(self, app: ASGIApp,
                 handlers: Mapping[type[BaseException], ErrorHandler] | None = None) -> None:
        self.app = app
        self._handlers = dict(handlers or {})
        if not all(isinstance(key, type) for key in self._handlers):
            raise TypeError("error handlers are keyed by exception class, not by status")
        # Ids are a random per-process prefix and a counter: unique like uuid4().hex (same
        # 32 hex digits) without a getrandom(2) call per request (8 % of a cheap request).
        prefix = os.urandom(8).hex()
        self._new_id = (f"{prefix}{n:016x}" for n in itertools.count()).__next__

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        # A client's id is kept only when it looks like one: it ends up in our logs.
        request_id = incoming if incoming and _REQUEST_ID_RE.match(incoming) else self._new_id()
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
                # nosniff: a JSON body holding user-written HTML is never rendered as HTML.
                # (Starlette's responses keep header names lower-case.)
                for name, _ in headers:
                    if name == NOSNIFF[0]:
                        break
                else:
                    headers.append(NOSNIFF)
                message["headers"] = headers
            await send(message)

        try:
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                handler = self._handler_for(exc)
                if handler is None or response_started:
                    raise
                response = await handler(Request(scope, receive, send_with_id), exc)
                await response(scope, receive, send_with_id)
                # A reused exception instance would collect tracebacks across requests.
                exc.__traceback__ = None
        except Exception:
            # Logged once, here, with the request id; the client learns only the id.
            error_log.exception(
                "unhandled error", extra={"request_id": request_id, "path": scope["path"]}
            )
            if not response_started:
                response = error_response(
                    500, "internal_error",
                    f"Something went wrong on our side (request {request_id}).",
                )
                await response(scope, receive, send_with_id)
            status = 500
        finally:
            if access_log.isEnabledFor(logging.INFO):
                log_access(access_log, self._access_fields(scope, request_id, status, started))

    def _handler_for(self, exc: Exception) -> ErrorHandler | None:
        for cls in type(exc).__mro__:
            handler = self._handlers.get(cls)
            if handler is not None:
                return handler
        return None

    @staticmethod
    def _access_fields(scope: Scope, request_id: str, status: int, started: float) -> dict:
        route = scope.get("route")
        return {
            "request_id": request_id,
            "method": scope["method"],
            "route": getattr(route, "path", None) or "-",
            "path": scope["path"],
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "user_id": scope["state"].get("user_id"),
        }
