"""The one ASGI layer in front of the router: request ids, security headers, the request
header limit, one access-log line (and, when enabled, one metrics observation) per request,
errors answered through the error table, the 500 of last resort, the 503 of a request
the server's stop cut off (its own task cancelled; any other CancelledError is a bug: 500),
and the 499 of a request whose client went away before its body arrived whole.

Written against raw ASGI rather than BaseHTTPMiddleware so it adds no task or buffering to
every request (and passes WebSockets and the lifespan through untouched). It takes the place
of Starlette's ServerErrorMiddleware and ExceptionMiddleware too (see `NirvanaApp`): each of
those wrapped `send` in a closure of its own and added a coroutine frame to every request,
to do what this layer already did around the same call.
"""

from __future__ import annotations

import asyncio
import logging
import itertools
import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..domain.errors import RETRY_AT_ONCE_SECONDS
from ..logs import log_access
from .errors import error_response

access_log = logging.getLogger("nirvana.access")
error_log = logging.getLogger("nirvana.error")
http_log = logging.getLogger("nirvana.http")
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]

# nginx's "client closed request": the status recorded (access log, metrics) for a request
# whose client closed the connection before its body arrived whole. Nothing is sent: no one
# is there to read it.
CLIENT_CLOSED_REQUEST = 499

# Request headers (names and values, all of them) past this are refused with 431. uvicorn's
# h11 parser refuses only a header block still incomplete past 16 KiB: one that arrives
# whole in a single read (up to 256 KiB) reached the app.
MAX_HEADER_BYTES = 16 * 1024

# On every response unless the response set its own (the media route's CSP, for one).
# nosniff: a JSON body holding user-written HTML is never rendered as HTML. frame-ancestors
# and X-Frame-Options (for browsers without CSP 3): no page of ours is framed elsewhere.
# strict-origin-when-cross-origin, not no-referrer: with no-referrer a browser sends
# `Origin: null` on a form POST, which the cookie Origin check (auth.py) must refuse.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
)
# Only over https (TLS here, or X-Forwarded-Proto from a trusted proxy: FORWARDED_ALLOW_IPS):
# over plain http a browser ignores it, and localhost development stays on http.
HSTS = (b"strict-transport-security", b"max-age=31536000")


class HttpObserver(Protocol):
    def observe(self, method: str, route: str, status: int, seconds: float) -> None: ...


class RequestContextMiddleware:
    """`handlers` maps exception classes to async handlers returning the error's response;
    an exception is answered by the handler of the nearest class in its MRO, as Starlette's
    ExceptionMiddleware does (class keys only: Nirvana has no per-status handlers).
    `observer`, when set, is told every request's route template, status and duration."""

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
        self.observer: HttpObserver | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = None
        header_bytes = 0
        for name, value in scope["headers"]:
            header_bytes += len(name) + len(value)
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
        # A client's id is kept only when it looks like one: it ends up in our logs.
        request_id = incoming if incoming and _REQUEST_ID_RE.match(incoming) else self._new_id()
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        response_started = response_complete = False
        https = scope.get("scheme") == "https"

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started, response_complete
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
                # Starlette's responses keep header names lower-case.
                present = {name for name, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                if https:
                    headers.append(HSTS)
                message["headers"] = headers
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                response_complete = True
            await send(message)

        try:
            try:
                if header_bytes > MAX_HEADER_BYTES:
                    response = error_response(
                        431, "headers_too_large",
                        f"The request's headers are over {MAX_HEADER_BYTES // 1024} KiB.")
                    await response(scope, receive, send_with_id)
                else:
                    await self.app(scope, receive, send_with_id)
            except Exception as exc:
                handler = self._handler_for(exc)
                if handler is None or response_started:
                    raise
                response = await handler(Request(scope, receive, send_with_id), exc)
                await response(scope, receive, send_with_id)
                # A reused exception instance would collect tracebacks across requests.
                exc.__traceback__ = None
        except ClientDisconnect:
            # Starlette's body reader (request.stream(), which our JSON and multipart readers
            # use) raises it on uvicorn's http.disconnect: a closed tab or a lost signal, not
            # a fault of ours, so not an error line or a 5xx to alert on.
            status = CLIENT_CLOSED_REQUEST
            route = scope.get("route")
            http_log.info("request cut off by the client: its body did not arrive whole",
                          extra={"request_id": request_id, "path": scope["path"],
                                 "route": getattr(route, "path", None) or "-"})
        except Exception:
            status = await self._unhandled(scope, receive, send_with_id, request_id,
                                           response_started)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or task.cancelling() == 0:
                # Not a cancel of this request: an awaited future someone else cancelled.
                # A bug, answered and logged as one (raising would have uvicorn do it too).
                status = await self._unhandled(scope, receive, send_with_id, request_id,
                                               response_started)
            else:
                task.uncancel()  # swallowed on purpose (see _cut_off_by_stop): not cancelling
                await self._cut_off_by_stop(scope, receive, send_with_id, request_id,
                                            response_started, response_complete)
        finally:
            if self.observer is not None:
                route = scope.get("route")
                self.observer.observe(scope["method"], getattr(route, "path", None) or "-",
                                      status, time.perf_counter() - started)
            if access_log.isEnabledFor(logging.INFO):
                log_access(access_log, self._access_fields(scope, request_id, status, started))

    @staticmethod
    async def _unhandled(scope: Scope, receive: Receive, send: Send, request_id: str,
                         response_started: bool) -> int:
        # Logged once, here, with the request id; the client learns only the id.
        error_log.exception(
            "unhandled error", extra={"request_id": request_id, "path": scope["path"]}
        )
        if not response_started:
            # JSON whatever the Accept (as the 431 above), so no `Vary: Accept`: the page
            # endpoints answer their own failures by Accept (web/errors.py page_endpoint).
            response = error_response(
                500, "internal_error",
                f"Something went wrong on our side (request {request_id}).",
            )
            await response(scope, receive, send)
        return 500

    @staticmethod
    async def _cut_off_by_stop(scope: Scope, receive: Receive, send: Send, request_id: str,
                               response_started: bool, response_complete: bool) -> None:
        # This request's own task was cancelled: uvicorn does that to the requests still
        # running when its stop bound ends (timeout_graceful_shutdown). Not raised on:
        # uvicorn's run_asgi catches any BaseException from the app, logs it as "Exception in
        # ASGI application" with its traceback and answers 500, so raising adds only that;
        # the task ends when this returns, as it would there. That holds only because uvicorn
        # serves this app (serving.py) and nothing wraps it in a timeout or task group, which
        # would lose the cancel: revisit this if either changes.
        if response_complete:
            how = "the work after its answer was cut off"  # a BackgroundTask (a reset mail)
        elif response_started:
            how = "its answer was cut short"
        else:
            how = "answered 503"
        http_log.warning("request cut off by the server's stop: %s", how,
                         extra={"request_id": request_id, "path": scope["path"]})
        if not response_started:
            # Answered like every "the server is stopping" refusal: a retry goes to
            # another instance, or to this one once restarted.
            response = error_response(
                503, "unavailable", "The server is stopping; try again.",
                headers={"Retry-After": str(RETRY_AT_ONCE_SECONDS)})
            await response(scope, receive, send)

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
            # The peer, or the client a trusted proxy names (FORWARDED_ALLOW_IPS).
            "client": client[0] if (client := scope.get("client")) else None,
        }
