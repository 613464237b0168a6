"""The one error table of the HTTP API: exception class -> status, all in one shape.

Starlette walks the exception's class hierarchy to find a handler, so a new subclass of a
domain error is answered with its base's status without touching this table.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..domain import errors as e
from ..driver_errors import CLASSIFIED_TYPES, DriverFailure, classify

log = logging.getLogger("nirvana.http")

STATUS: dict[type[e.DomainError], int] = {
    e.BadRequestError: 400,
    e.AuthenticationError: 401,
    e.PermissionDeniedError: 403,
    e.NotFoundError: 404,
    e.ConflictError: 409,
    e.PayloadTooLargeError: 413,
    e.UnsupportedMediaTypeError: 415,
    e.InvalidInputError: 422,
    e.RateLimitedError: 429,
    e.UnavailableError: 503,
}

HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict | None = None
) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return Response(
        orjson.dumps({"error": body}),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def status_for(exc: e.DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, e.DomainError)
    headers = None
    retry_after = getattr(exc, "retry_after", None)  # rate limits and every unavailable
    if retry_after is not None:
        # Some carry more (the write rate's RateLimit headers, http/write_limit.py).
        headers = {"Retry-After": str(retry_after), **getattr(exc, "headers", {})}
    elif isinstance(exc, e.AuthenticationError):
        headers = {"WWW-Authenticate": 'Bearer realm="nirvana"'}
    return error_response(status_for(exc), exc.code, exc.message, exc.details, headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {404: "No such route.", 405: "Method not allowed on this route."}.get(
        exc.status_code, str(exc.detail)
    )
    return error_response(
        exc.status_code, HTTP_CODES.get(exc.status_code, "error"), message, headers=exc.headers
    )


async def driver_error(request: Request, exc: Exception) -> Response:
    failure, store = classify(exc)
    if failure is DriverFailure.UNAVAILABLE:
        log.warning("%s unavailable: %s", store, type(exc).__name__)
        return error_response(
            503, "unavailable", f"{store} is unavailable; try again shortly.",
            headers={"Retry-After": str(e.RETRY_AFTER_SECONDS)},
        )
    if failure is DriverFailure.CONFLICT:
        return error_response(409, "conflict", "The request conflicts with a concurrent change.")
    if failure is DriverFailure.OUT_OF_RANGE:
        # A number a store cannot hold reaches a driver only where a model has no bound of
        # its own: answered 422, never a 500.
        return error_response(422, "value_out_of_range",
                              "A number in the request is out of range.")
    raise exc  # a bug: the server error middleware logs it and answers 500


def handlers() -> dict[Any, Any]:
    table: dict[Any, Any] = {e.DomainError: domain_error, HTTPException: http_error}
    for exc_type in CLASSIFIED_TYPES:
        table[exc_type] = driver_error
    return table
