"""Declaring HTTP endpoints once: validation, auth, serialisation and OpenAPI from one spec.

An endpoint is an async function taking a `Call`; `@api.route(...)` names its method, path,
body and query models and response model. The same pydantic models validate requests and
generate `/openapi.json`, so the documentation cannot drift from what the code enforces.
"""

from __future__ import annotations

import re
from collections import Counter
from urllib.parse import unquote_to_bytes
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..domain.errors import (
    AuthenticationError,
    BadRequestError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    field_error,
)
from ..domain.text import control_message, first_control
from ..domain.accounts.ports import AccessClaims
from ..domain.idempotency import IdempotencyKey
from .deadline import within
from .idempotency import REPLAYED, key_of
from .json_keys import refuse_duplicate_keys
from .write_limit import counts_as_write, take_write
from ..schema_text import ControlFreeText, non_canonical_ints
from ..domain.ids import MAX_ID

if TYPE_CHECKING:  # for the annotation only: the HTTP layer does not load the root that wires it
    from ..bootstrap import Services

B = TypeVar("B")
Q = TypeVar("Q")
JSON = "application/json"
# Past store_timeout: a store call that times out by itself answers first; the deadline only
# catches what would stack (a cancel the server never confirms, a wait for a free connection).
DEADLINE_GRACE = 0.25


class In(ControlFreeText):
    """Base of request models: unknown fields are refused, never silently dropped; integers
    are strict and text holds no control character (`nirvana/schema_text.py`)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class JsonResponse(Response):
    media_type = JSON


def validation_details(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    details = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"] if p != "__root__")
        details.append(
            {
                "field": f"{prefix}{loc}" if loc else prefix.rstrip(".") or "body",
                "code": err["type"],
                "message": err["msg"],
            }
        )
    return details


def _invalid(exc: ValidationError, prefix: str = "") -> InvalidInputError:
    details = validation_details(exc, prefix)
    names = ", ".join(sorted({d["field"] for d in details}))
    return InvalidInputError(f"Invalid fields: {names}.", details=details)


@dataclass
class Call(Generic[B, Q]):
    request: Request
    body: B
    query: Q
    claims: AccessClaims | None
    # The Idempotency-Key of a route declared `idempotent`, if sent; the handler sets
    # `created` False when its use case answered the row stored by an earlier attempt.
    idempotency: IdempotencyKey | None = None
    created: bool = True

    @property
    def user_id(self) -> int:
        if self.claims is None:
            raise AuthenticationError()
        return self.claims.user_id

    @property
    def services(self) -> Services:
        return self.request.app.state.services

    def path(self, name: str) -> Any:
        return self.request.path_params[name]


Handler = Callable[[Call[Any, Any]], Awaitable[BaseModel | Response | None]]
Authenticator = Callable[[Request], AccessClaims | None]


@dataclass
class Spec:
    method: str
    path: str
    handler: Handler
    summary: str
    tags: list[str]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    auth: bool = True  # True: required; False: none; "optional": used when present
    optional_auth: bool = False
    errors: tuple[int, ...] = ()
    body_limit: int | None = None
    raw_body: dict[str, Any] | None = None  # OpenAPI requestBody for non-JSON bodies
    raw_response: dict[str, Any] | None = None  # an OpenAPI Response Object (non-JSON bodies)
    response_items: type[BaseModel] | None = None  # the answer is a JSON array of this model
    uses_stores: bool = True  # False: answers without PostgreSQL or MongoDB (never 503)
    also: tuple[int, ...] = ()  # other success statuses, with the same body (201 or 200)
    # The answer kept in memory for this call, if any (the page cache's anonymous reads):
    # given without the store deadline's task, since it waits for nothing.
    cached: Callable[[Call[Any, Any]], Response | None] | None = None
    idempotent: bool = False  # reads the Idempotency-Key header (idempotency.py)


async def read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise PayloadTooLargeError(f"The body is larger than {limit} bytes.")
        except ValueError:
            raise BadRequestError("Content-Length is not a number.") from None
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"The body is larger than {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, model: type[BaseModel], limit: int) -> BaseModel:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != JSON and not (ctype.startswith("application/") and ctype.endswith("+json")):
        # No body at all is `{}`: routes whose fields are all optional (refresh or log out
        # with the cookie) then need no JSON; any other body must say it is JSON.
        if not ctype and not await read_limited(request, limit):
            try:
                return model.model_validate({})
            except ValidationError as exc:
                raise _invalid(exc) from None
        raise UnsupportedMediaTypeError("Send the body as application/json.")
    raw = await read_limited(request, limit)
    try:
        body = model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise BadRequestError("The body is not valid JSON.", code="malformed_json") from None
        raise _invalid(exc) from None
    refuse_duplicate_keys(raw)
    return body


class Api:
    def __init__(self) -> None:
        self.specs: list[Spec] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tags: list[str],
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        auth: bool | str = True,
        errors: tuple[int, ...] = (),
        body_limit: int | None = None,
        raw_body: dict[str, Any] | None = None,
        raw_response: dict[str, Any] | None = None,
        response_items: type[BaseModel] | None = None,
        uses_stores: bool = True,
        also: tuple[int, ...] = (),
        cached: Callable[[Call[Any, Any]], Response | None] | None = None,
        idempotent: bool = False,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.specs.append(
                Spec(
                    method=method,
                    path=path,
                    handler=handler,
                    summary=summary,
                    tags=tags,
                    body=body,
                    query=query,
                    response=response,
                    status=status,
                    auth=auth is True,
                    optional_auth=auth == "optional",
                    errors=errors,
                    body_limit=body_limit,
                    raw_body=raw_body,
                    raw_response=raw_response,
                    response_items=response_items,
                    uses_stores=uses_stores,
                    also=also,
                    cached=cached,
                    idempotent=idempotent,
                )
            )
            return handler

        return register

    def routes(self, authenticate: Authenticator, json_limit: int) -> list[Route]:
        return [Route(s.path, AsgiEndpoint(s, authenticate, json_limit), methods=[s.method])
                for s in self.specs]


class AsgiEndpoint:
    """One spec's endpoint as a bare ASGI app: auth, query and body checked, the handler
    called, its result answered. Route calls an object like this as ASGI directly; a plain
    function endpoint it would wrap in a second exception-handling layer with its own send
    wrapper, though RequestContextMiddleware already maps every error through the same
    table. One frame does it all: every frame a request passes costs it time."""

    def __init__(self, spec: Spec, authenticate: Authenticator, json_limit: int) -> None:
        self.spec = spec
        self.authenticate = authenticate
        self.limit = spec.body_limit or json_limit
        self.counts_as_write = counts_as_write(spec.method, spec.auth)
        self.__name__ = spec.handler.__name__  # the route's name
        # Per path segment: the (name, convertor) of the parameter it holds, or None.
        self.segments = [_param_of(seg) for seg in spec.path.split("/")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        spec = self.spec
        request = Request(scope, receive, send)
        claims = None
        if spec.auth:
            claims = self.authenticate(request)
            if claims is None:
                raise AuthenticationError("Sign in first: send a Bearer token or the jwt cookie.")
        elif spec.optional_auth:
            claims = self.authenticate(request)
        # Read by the access log; straight into the scope's state (request.state would build
        # a State wrapper per request just for this).
        scope.setdefault("state", {})["user_id"] = claims.user_id if claims else None
        rate_headers = None
        if claims is not None and self.counts_as_write:
            limiter = request.app.state.services.write_limiter
            if limiter is not None:
                rate_headers = take_write(limiter, claims.user_id)
        check_path(scope, self.segments)
        # Every route, also one that reads no query: a name given twice is refused alike.
        params = single_params(request)
        query = None
        if spec.query is not None:
            bad = non_canonical_ints(spec.query, params)
            if bad:
                raise InvalidInputError(
                    f"Invalid fields: {', '.join(bad)}.",
                    details=[{"field": b, "code": "int_parsing",
                              "message": "Input should be a valid integer"} for b in bad])
            try:
                query = spec.query.model_validate(params)
            except ValidationError as exc:
                raise _invalid(exc) from None
        body = await read_json(request, spec.body, self.limit) if spec.body is not None else None
        call = Call(request, body, query, claims)
        if spec.idempotent:
            call.idempotency = key_of(request, spec.method, spec.path, body)
        kept = spec.cached(call) if spec.cached is not None else None
        if kept is not None:
            # A kept answer needs no store, so no deadline: its task and extra turn of the
            # event loop were a large share of a cached read's cost (docs/performance.md).
            result: BaseModel | Response | None = kept
        elif spec.raw_body is None:
            # The README's bound: a store slower than store_timeout is answered 503 by then,
            # also when the route's calls would stack their timeouts (see deadline.py).
            deadline = call.services.settings.store_timeout + DEADLINE_GRACE
            result = await within(spec.handler(call), deadline)
        else:  # an upload: its body is read inside the handler, at the client's pace
            result = await spec.handler(call)
        if isinstance(result, Response):
            response = result
        elif result is None:
            response = Response(status_code=204 if spec.status == 200 else spec.status)
        else:
            response = JsonResponse(result.model_dump_json(), status_code=spec.status)
        if rate_headers is not None:
            response.headers.update(rate_headers)
        if not call.created:
            response.headers[REPLAYED] = "true"
        await response(scope, receive, send)


_PARAM_RE = re.compile(r"{(\w+)(?::(\w+))?}")


def _param_of(segment: str) -> tuple[str, str] | None:
    found = _PARAM_RE.fullmatch(segment)
    return (found.group(1), found.group(2) or "str") if found else None


def check_path(scope: Scope, segments: list[tuple[str, str] | None]) -> None:
    """Refuse path parameters the server would otherwise take in altered: the server
    decodes percent-escapes that are not UTF-8 (%FF, %C0%AF) to U+FFFD, which a route
    would store as if sent. Checked on the raw path, per parameter, naming it."""
    raw_path: bytes | None = scope.get("raw_path")
    raw = raw_path.split(b"?", 1)[0].split(b"/") if raw_path else []
    raw = raw[len(raw) - len(segments):]  # under a root_path, the route's part is the tail
    for i, param in enumerate(segments):
        if param is None:
            continue
        name, convertor = param
        if convertor == "int":
            if int(scope["path_params"][name]) > MAX_ID:  # no store holds such an id
                raise NotFoundError(f"No such {name}: ids are at most {MAX_ID}.",
                                    code=f"{name[:-3]}_not_found" if name.endswith("_id")
                                    else "not_found")
            continue
        if len(raw) == len(segments):
            try:
                unquote_to_bytes(raw[i]).decode("utf-8")
            except UnicodeDecodeError:
                raise BadRequestError(
                    f"The path parameter {name} is not UTF-8 once percent-decoded.",
                    code="invalid_path",
                    details=[{"field": name, "code": "invalid_utf8",
                              "message": "is not UTF-8 once percent-decoded"}]) from None
        value = scope["path_params"][name]
        bad = first_control(value)
        if bad is not None:
            raise field_error(name, control_message(value, bad), "invalid_character")


def single_params(request: Request) -> dict[str, str]:
    """The query parameters, or BadRequestError (400 `invalid_query`) naming one given twice:
    no query parameter of the API is a list, and a proxy reading the first of the two would
    check another request than the one served (Starlette keeps the last)."""
    items = request.query_params.multi_items()
    params = dict(items)
    if len(params) != len(items):
        twice = [k for k, n in Counter(k for k, _ in items).items() if n > 1]
        raise BadRequestError(
            f"The query names {', '.join(twice)} more than once.", code="invalid_query",
            details=[{"field": k, "code": "duplicate_parameter",
                      "message": "is given more than once"} for k in twice])
    return params


def openapi_path(path: str) -> str:
    return _PARAM_RE.sub(lambda m: "{" + m.group(1) + "}", path)

