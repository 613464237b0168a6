"""`/openapi.json`, generated from the endpoint specs and their pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .api import Spec, openapi_path, _PARAM_RE

STATUS_TEXT = {
    400: "Malformed request",
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict with the current state",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Invalid fields",
    429: "Rate limited (see Retry-After)",
    503: "A store is unavailable",
}


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorEnvelope(BaseModel):
    """Every error Nirvana answers has this shape."""

    error: ErrorBody


def build_openapi(specs: list[Spec], *, title: str, version: str, description: str) -> dict:
    models: set[type[BaseModel]] = {ErrorEnvelope}
    for s in specs:
        for m in (s.body, s.query, s.response):
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
                    "schema": {"type": "integer"} if conv == "int" else {"type": "string"},
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
        elif s.raw_response is not None:
            responses[str(s.status)] = s.raw_response
        else:
            responses["204" if s.status == 200 else str(s.status)] = {"description": "Done"}
        codes = set(s.errors)
        if s.body is not None or s.query is not None:
            codes |= {400, 422} if s.body is not None else {422}
        if s.body is not None:
            codes |= {413, 415}
        if s.auth or s.optional_auth:  # optional: a token that is sent must be valid
            codes.add(401)
        for code in sorted(codes):
            responses[str(code)] = {"description": STATUS_TEXT.get(code, "Error"), **error_ref}
        op["responses"] = responses
        if s.auth or s.optional_auth:
            op["security"] = [{"bearer": []}, {"cookie": []}]
        paths.setdefault(openapi_path(s.path), {})[s.method.lower()] = op

    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "jwt"},
            },
        },
    }
