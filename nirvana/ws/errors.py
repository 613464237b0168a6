"""The one error table of the WebSocket endpoint: exception → error frame (and close).

Walks the class hierarchy like the HTTP table, so a new domain error subclass is answered
as its base is. Domain errors keep their own stable `code` (e.g. `not_member`); a driver's
exception means what `nirvana/driver_errors.py` says, as on HTTP: a store outage becomes
`unavailable` for that one request; anything unexpected is logged once, answered
`internal_error`, and closes the socket with 1011.
"""

from __future__ import annotations

import logging

from ..domain import errors as e
from ..driver_errors import DriverFailure, classify
from .close_codes import CloseCode
from .events import Error

log = logging.getLogger("nirvana.ws")

# Errors that end the connection after the error frame; the rest answer one request only.
CLOSES: dict[type[BaseException], CloseCode] = {
    e.AuthenticationError: CloseCode.UNAUTHENTICATED,
}


def close_for(exc: BaseException) -> CloseCode | None:
    for cls in type(exc).__mro__:
        if cls in CLOSES:
            return CLOSES[cls]
    return None


def error_frame(exc: BaseException, request_id: str | None
                ) -> tuple[Error, tuple[CloseCode, str] | None]:
    """The error event answering `request_id`, and the close to follow, if any."""
    if isinstance(exc, e.DomainError):
        retry = getattr(exc, "retry_after", None)
        frame = Error(id=request_id, code=exc.code, message=exc.message, details=exc.details,
                      retry_after=retry)
        code = close_for(exc)
        return frame, (code, exc.code) if code is not None else None
    failure, store = classify(exc)
    if failure is DriverFailure.OUT_OF_RANGE:
        return Error(id=request_id, code="value_out_of_range",
                     message="A number in the command is out of range."), None
    if failure is DriverFailure.CONFLICT:
        return Error(id=request_id, code="conflict",
                     message="The command conflicts with a concurrent change."), None
    if failure is DriverFailure.UNAVAILABLE:
        log.warning("%s unavailable during a ws command: %s", store, type(exc).__name__)
        return Error(id=request_id, code="unavailable", retry_after=e.RETRY_AFTER_SECONDS,
                     message=f"{store} is unavailable; retry shortly."), None
    log.error("unexpected error in a ws command", exc_info=exc)
    return (Error(id=request_id, code="internal_error", message="Internal error."),
            (CloseCode.INTERNAL_ERROR, "internal error"))
