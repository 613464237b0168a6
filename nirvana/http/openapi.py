"""`/openapi.json`, generated from the endpoint specs and their pydantic models.

What it says is what the server does: the same models validate requests; each operation's
security is its route's (required, optional: `[{}, bearer, cookie]`, or none); and its
responses list every status the route can answer, derived from what the route has (a body,
a query, path parameters, auth, stores) plus the statuses its spec declares.
`tests/integration/test_openapi_contract.py` checks both against the running app.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from ..domain.ids import MAX_ID
from ..domain.text import CONTROLS
from .api import Spec, openapi_path, _PARAM_RE
from .idempotency import PARAMETER as IDEMPOTENCY_PARAMETER, REPLAYED, REPLAYED_HEADER
from .methods import SAFE_METHODS
from .write_limit import counts_as_write

STATUS_TEXT = {
    400: "Malformed request: unreadable JSON, a key named twice in one object, a query "
         "parameter given twice, or a path parameter that is not UTF-8",
    401: "Not authenticated",
    403: "Not allowed (also: a cookie-authenticated write from an Origin not allowed)",
    404: "Not found",
    409: "Conflict with the current state",
    413: "Body too large",
    415: "Unsupported media type",
    416: "Range not satisfiable: a range starts past the end (Content-Range names the size)",
    422: "Invalid fields: `details` names each, with a machine `code`",
    429: "Rate limited: see Retry-After (writes also: RateLimit-Policy and RateLimit)",
    503: "A store or the chat writer is unavailable: retry after Retry-After (5 s, or 1 s where a retry works at once)",
}


class ErrorDetail(BaseModel):
    field: str
    code: str
    message: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] | dict[str, Any] | None = Field(
        default=None, description="Invalid input: each field at fault, with a machine `code`. "
                                  "`account_suspended`: `{until}` (null: for good).")


class ErrorEnvelope(BaseModel):
    """Every error Nirvana answers has this shape."""

    error: ErrorBody


# The response headers the README promises, declared once and referred to.
HEADERS = {
    "X-Request-ID": {"description": "This request's id, also in the access log and in a "
                                    "500's body", "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before trying again",
                    "schema": {"type": "integer", "minimum": 1}},
    "RateLimit-Policy": {"description": "The write budget (draft-ietf-httpapi-ratelimit-"
                                        "headers), on writes when WRITES_PER_MINUTE is set",
                         "schema": {"type": "string"}},
    "RateLimit": {"description": "What is left of the write budget and when it resets",
                  "schema": {"type": "string"}},
    "WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}},
    REPLAYED: REPLAYED_HEADER,
}


def headers_of(*names: str) -> dict[str, Any]:
    return {"headers": {n: {"$ref": f"#/components/headers/{n}"}
                        for n in ("X-Request-ID", *names)}}


ALSO_TEXT = {200: "Already so: nothing was created (a retry, or the state already held)",
             204: "Done, with no body",
             206: "Part of it, for a Range request (Content-Range says which)"}


def statuses_of(s: Spec) -> set[int]:
    """The error statuses a route can answer because of what it has."""
    params = _PARAM_RE.findall(s.path)
    # Every route refuses a query parameter given twice, also one that reads no query
    # (api.single_params).
    codes: set[int] = {400}
    if s.body is not None:
        codes |= {413, 415, 422}  # too big, not JSON, invalid fields (400: unreadable JSON)
    if s.query is not None:
        codes.add(422)  # invalid values
    if params:
        codes.add(422)  # a control character in a parameter
        if any(conv != "int" for _, conv in params):
            codes.add(400)  # percent-escapes that are not UTF-8
        if any(conv == "int" for _, conv in params):
            codes.add(404)  # an id past what any store holds
    if s.auth or s.optional_auth:  # optional: a token that is sent must be valid
        codes.add(401)
        if s.method not in SAFE_METHODS:
            codes.add(403)  # the cookie's Origin check
    if s.uses_stores:
        codes.add(503)
    if counts_as_write(s.method, s.auth):
        codes.add(429)  # the per-user write rate (write_limit.py)
    return codes


def build_openapi(specs: list[Spec], *, title: str, version: str, description: str) -> dict:
    models: set[type[BaseModel]] = {ErrorEnvelope}
    for s in specs:
        for m in (s.body, s.query, s.response, s.response_items):
            if m is not None:
                models.add(m)
    keyed = sorted(models, key=lambda m: m.__name__)
    refs, schema = models_json_schema(
        [(m, "validation") for m in keyed], ref_template="#/components/schemas/{model}"
    )
    components = schema.get("$defs", {})

    def ref(model: type[BaseModel]) -> dict[str, Any]:
        return refs[(model, "validation")]

    error_ref = {"content": {"application/json": {"schema": ref(ErrorEnvelope)}}}
    paths: dict[str, dict[str, Any]] = {}
    for s in specs:
        op: dict[str, Any] = {
            "summary": s.summary,
            "tags": s.tags,
            "operationId": s.handler.__name__,
        }
        params = []
        for name, conv in _PARAM_RE.findall(s.path):
            params.append(
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    # Starlette's int convertor matches digits only: no sign.
                    "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID}
                    # The str convertor: anything but '/' once decoded; check_path refuses
                    # control characters.
                    if conv == "int" else {"type": "string", "pattern": f"^[^/{CONTROLS}]+$"},
                }
            )
        if s.query is not None:
            qschema = s.query.model_json_schema(ref_template="#/components/schemas/{model}")
            required = set(qschema.get("required", []))
            for name, prop in qschema.get("properties", {}).items():
                params.append(
                    {
                        "name": name,
                        "in": "query",
                        "required": name in required,
                        "schema": prop,
                        **({"description": prop["description"]} if "description" in prop else {}),
                    }
                )
        if s.idempotent:
            params.append(IDEMPOTENCY_PARAMETER)
        if params:
            op["parameters"] = params
        if s.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(s.body)}},
            }
        elif s.raw_body is not None:
            op["requestBody"] = s.raw_body
        responses: dict[str, Any] = {}
        if s.response is not None:
            responses[str(s.status)] = {
                "description": "OK",
                "content": {"application/json": {"schema": ref(s.response)}},
            }
        elif s.response_items is not None:
            responses[str(s.status)] = {
                "description": "OK",
                "content": {"application/json": {
                    "schema": {"type": "array", "items": ref(s.response_items)}}},
            }
        elif s.raw_response is not None:
            if "description" not in s.raw_response:
                raise ValueError(f"{s.method} {s.path}: raw_response is an OpenAPI Response "
                                 "Object (description, content), not a schema")
            responses[str(s.status)] = s.raw_response
        else:
            responses["204" if s.status == 200 else str(s.status)] = {"description": "Done"}
        for code in s.also:
            responses[str(code)] = {
                "description": ALSO_TEXT.get(code, "Done"),
                **({"content": {"application/json": {"schema": ref(s.response)}}}
                   if s.response is not None and code != 204 else {})}
        codes = set(s.errors) | statuses_of(s) | ({400, 409} if s.idempotent else set())
        for code in sorted(codes):
            responses[str(code)] = {"description": STATUS_TEXT.get(code, "Error"), **error_ref}
        rate = ("RateLimit-Policy", "RateLimit") if counts_as_write(s.method, s.auth) else ()
        for code_text, response in responses.items():
            names = {"429": ("Retry-After", *rate), "503": ("Retry-After",),
                     "401": ("WWW-Authenticate",)}.get(
                code_text, rate if code_text.startswith("2") else ())
            if s.idempotent and code_text == str(s.status):
                names = (*names, REPLAYED)
            responses[code_text] = {**response, **headers_of(*names)}
        op["responses"] = responses
        op["security"] = (
            [{"bearer": []}, {"cookie": []}] if s.auth
            else [{}, {"bearer": []}, {"cookie": []}] if s.optional_auth
            else []
        )
        paths.setdefault(openapi_path(s.path), {})[s.method.lower()] = op

    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {
            "schemas": components,
            "headers": HEADERS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "jwt"},
            },
        },
    }
