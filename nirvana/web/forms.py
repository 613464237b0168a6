"""Reading page forms and turning domain errors into messages beside their fields."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Collection
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..http.api import read_limited
from ..http.idempotency import checked_key
from ..http import multipart
from ..http.routes.users import clear_cookies, set_session_cookies
from . import domain
from .session import check_origin, reader_of

FORM_LIMIT = 1 << 20  # a blog body (100,000 characters) fits with room to spare
# The hidden field of a form that creates something (partials/forms.html `once_key`).
KEY_FIELD = "idempotency_key"


async def read_form(request: Request, limit: int = FORM_LIMIT) -> dict[str, str]:
    """The fields of an urlencoded form POST, after the Origin check. A repeated name keeps
    its last value, except names ending in [] which keep all, joined by newlines."""
    check_origin(request)
    raw = await read_limited(request, limit)
    fields: dict[str, str] = {}
    for name, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
        if name.endswith("[]") and name in fields:
            fields[name] += "\n" + value
        else:
            fields[name] = value
    return fields


async def read_file(request: Request, name: str, max_bytes: int, *, keyed: bool = False
                    ) -> multipart.ReceivedFile:
    """One file field of a multipart form POST and its file name, streamed under the upload
    limit; with `keyed`, also the form's key (`upload_key`) and the file's hash."""
    check_origin(request)
    return await multipart.read_file(request, name, max_bytes, hashed=keyed,
                                     texts=(KEY_FIELD,) if keyed else ())


def new_form_key() -> str:
    """A key for one rendered create form: a double click, a reload that posts the form
    again or a retry after an error page sends it again, and the store answers the row the
    first post made (`create_once`, `comment_once`), as the API's Idempotency-Key does."""
    return secrets.token_urlsafe(16)


def form_key(request: Request, form: dict[str, str]) -> domain.IdempotencyKey | None:
    """The form's key with the fingerprint of everything else it posts, or None for a form
    rendered without one (a page from before this field existed)."""
    value = form.get(KEY_FIELD)
    if not value:
        return None
    asked = {name: text for name, text in form.items() if name != KEY_FIELD}
    return checked_key(value, ["web", request.method, request.url.path, asked], KEY_FIELD)


def upload_key(request: Request, sent: multipart.ReceivedFile
               ) -> domain.IdempotencyKey | None:
    """An upload form's key (`read_file` with `keyed`) with the fingerprint of the file it
    posts (its bytes and name), or None for a form rendered without one."""
    value = sent.texts.get(KEY_FIELD)
    if not value:
        return None
    return checked_key(value, ["web", request.method, request.url.path, sent.sha256,
                               sent.filename], KEY_FIELD)


@dataclass
class FormErrors:
    """What went wrong with a form: one message for the form, one per field."""

    message: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    status: int = 422

    @classmethod
    def of(cls, exc: domain.DomainError, shown: Collection[str] = ()) -> "FormErrors":
        """The error as the page shows it. `shown` names the fields the form displays with
        their own error line (not every submitted name: hidden inputs and buttons have none):
        a message that only repeats one of them in API words ("new_password: must be ...")
        gives way to the page's own "fix the fields marked below"."""
        fields: dict[str, str] = {}
        for detail in exc.details or []:
            if isinstance(detail, dict) and detail.get("field"):
                fields[detail["field"]] = detail.get("message", "is not valid")
        message = exc.message
        if any(message == f"{name}: {text}" for name, text in fields.items() if name in shown):
            message = None
        status = {domain.AuthenticationError: 401, domain.PermissionDeniedError: 403,
                  domain.ConflictError: 409, domain.RateLimitedError: 429}
        code = next((s for cls_, s in status.items() if isinstance(exc, cls_)), 422)
        if isinstance(exc, domain.RateLimitedError):
            message = f"Too many tries. Wait {exc.retry_after} seconds and try again."
        return cls(message, fields, code)

    @classmethod
    def resent(cls, what: str) -> "FormErrors":
        """For a create form whose key already made something else (posted once, then
        changed: a page kept by Back): the form comes back with a new key."""
        return cls(f"This form was already sent with other text. What you wrote is kept "
                   f"below: send it again to post it as a new {what}.", status=409)

    def __bool__(self) -> bool:
        return bool(self.message or self.fields)


def safe_next(raw: str | None, default: str = "/") -> str:
    """A local path to go to after a form; anything else (another site) goes home."""
    if raw and raw.startswith("/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return default


async def redirect(request: Request, url: str, session: Any = None,
                   signed_out: bool = False) -> Response:
    """303 See Other after a POST, with cookies for a new session or cleared ones."""
    response = RedirectResponse(url, status_code=303)
    if session is not None:
        return set_session_cookies(request, response, session)
    if signed_out:
        # What the browser kept for this user goes with the session: the chat's unsent
        # messages and resume position (sessionStorage). Browsers honour it on secure
        # origins and localhost; the chat page also clears them itself on sign-out.
        response.headers["Clear-Site-Data"] = '"storage"'
        return clear_cookies(request, response)
    return (await reader_of(request)).finish(request, response)
