"""Errors of the domain, independent of transport.

Each has a stable machine `code`. `nirvana/http/errors.py` and `nirvana/ws/errors.py` map
them to statuses and close codes by walking the class hierarchy, so a new subclass is served
by its base's mapping.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "error"
    message = "The request could not be completed."

    def __init__(
        self, message: str | None = None, *, code: str | None = None, details: Any = None
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.details = details
        super().__init__(self.message)


class InvalidInputError(DomainError):
    """Input is well-formed but breaks a rule (422)."""

    code = "validation_error"
    message = "The request is not valid."


class BadRequestError(DomainError):
    """Input could not be read at all (400)."""

    code = "bad_request"
    message = "The request could not be read."


class AuthenticationError(DomainError):
    code = "unauthenticated"
    message = "Authentication is required."


class PermissionDeniedError(DomainError):
    code = "forbidden"
    message = "You are not allowed to do this."


class NotFoundError(DomainError):
    code = "not_found"
    message = "Not found."


class ConflictError(DomainError):
    code = "conflict"
    message = "The request conflicts with the current state."


class PayloadTooLargeError(DomainError):
    code = "payload_too_large"
    message = "The request body is too large."


class UnsupportedMediaTypeError(DomainError):
    code = "unsupported_media_type"
    message = "This media type is not supported."


class RateLimitedError(DomainError):
    code = "rate_limited"
    message = "Too many requests; try again later."

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after + 0.999))


# What both edges advise a client to wait after `unavailable` / `store_timeout`.
RETRY_AFTER_SECONDS = 5
# Where a retry works at once: the chat writer changed and the new one is in place, or this
# server is stopping and the client reconnects to another instance.
RETRY_AT_ONCE_SECONDS = 1


class UnavailableError(DomainError):
    """A store or service Nirvana depends on is down or too slow (503)."""

    code = "unavailable"
    message = "A service is temporarily unavailable."
    # Every one carries the hint (`retry_after`, `Retry-After`) the docs promise, wherever
    # it is raised; a raise site with a better estimate passes its own.
    retry_after: int = RETRY_AFTER_SECONDS

    def __init__(self, message: str | None = None, *, code: str | None = None,
                 details: Any = None, retry_after: int | None = None) -> None:
        super().__init__(message, code=code, details=details)
        if retry_after is not None:
            self.retry_after = retry_after



class WriterUnreachableError(UnavailableError):
    """This instance cannot reach the chat writer (Redis is down): unlike the writer not
    answering, another instance, the writer's, may serve the same request. Answered
    `unavailable` like its base; a new socket refused for it gets a fixed close reason
    (`nirvana/ws/close_codes.py`) that clients key on."""


def field_error(field: str, message: str, code: str = "invalid") -> InvalidInputError:
    return InvalidInputError(
        f"{field}: {message}", details=[{"field": field, "code": code, "message": message}]
    )
