"""`/openapi.json` is a valid OpenAPI 3.1 document a client generator can use: it validates
against the official meta-schema, every operationId is unique, component names are readable
(no module paths), and every response is a Response Object with a description."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, Iterator

from jsonschema import Draft202012Validator

from nirvana.app import API_MODULES
from nirvana.http.api import openapi_path
from nirvana.http.openapi import build_openapi
from nirvana.http.write_limit import counts_as_write

OAS_SCHEMA = Path(__file__).parents[1] / "support" / "oas" / "schema-3.1-2022-10-07.json"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@cache
def document() -> dict[str, Any]:
    specs = [s for module in API_MODULES for s in module.specs]
    return build_openapi(specs, title="Nirvana", version="1", description="")


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document()["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield method.upper(), path, op


def test_the_document_validates_against_the_openapi_3_1_schema():
    validator = Draft202012Validator(json.loads(OAS_SCHEMA.read_text()))
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(document())]
    assert errors == []


def test_every_component_schema_is_a_valid_json_schema():
    for name, schema in document()["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)  # raises naming the fault


def test_operation_ids_are_unique():
    seen: dict[str, list[str]] = {}
    for method, path, op in operations():
        seen.setdefault(op["operationId"], []).append(f"{method} {path}")
    assert {k: v for k, v in seen.items() if len(v) > 1} == {}


def test_component_names_are_readable_and_titles_unique():
    schemas = document()["components"]["schemas"]
    assert [name for name in schemas if "__" in name or "." in name] == []
    titles = [s.get("title", name) for name, s in schemas.items()]
    assert sorted(t for t in titles if titles.count(t) > 1) == []


def test_every_response_is_a_response_object_with_a_description():
    wrong = []
    for method, path, op in operations():
        for status, response in op["responses"].items():
            if not response.get("description") or "type" in response:
                wrong.append((method, path, status, response))
            for media in response.get("content", {}).values():
                schema = media.get("schema", {})
                if schema.get("type") == "array" and "items" not in schema:
                    wrong.append((method, path, status, "an array with no items"))
    assert wrong == []


def test_responses_declare_the_headers_the_readme_promises():
    must = {"401": {"WWW-Authenticate"}, "429": {"Retry-After"}, "503": {"Retry-After"}}
    wrong = []
    for method, path, op in operations():
        for status, response in op["responses"].items():
            declared = set(response.get("headers", {}))
            missing = ({"X-Request-ID"} | must.get(status, set())) - declared
            if missing:
                wrong.append((method, path, status, sorted(missing)))
    assert wrong == []
    headers = document()["components"]["headers"]
    assert {"X-Request-ID", "Retry-After", "RateLimit", "RateLimit-Policy"} <= set(headers)


def test_rate_limit_headers_are_declared_on_writes_only():
    # Sent on a write's answer and its 429 when WRITES_PER_MINUTE is set (write_limit.py).
    rate = {"RateLimit", "RateLimit-Policy"}
    writes = {(s.method, openapi_path(s.path)) for module in API_MODULES for s in module.specs
              if counts_as_write(s.method, s.auth)}
    assert writes
    wrong = []
    for method, path, op in operations():
        for status, response in op["responses"].items():
            declared = rate & set(response.get("headers", {}))
            sent = (method, path) in writes and (status.startswith("2") or status == "429")
            if declared != (rate if sent else set()):
                wrong.append((method, path, status, sorted(declared)))
    assert wrong == []


def test_error_details_and_the_cheap_rules_are_typed():
    schemas = document()["components"]["schemas"]
    details = schemas["ErrorBody"]["properties"]["details"]["anyOf"]
    assert {"items": {"$ref": "#/components/schemas/ErrorDetail"}, "type": "array"} in details
    assert set(schemas["ErrorDetail"]["required"]) == {"field", "code", "message"}
    assert schemas["ProfilePatchIn"]["minProperties"] == 1  # `{}` answers 422 empty_update
    # ... and so do only nulls, but for avatar's: said in words, not as a schema.
    assert "empty_update" in schemas["ProfilePatchIn"]["description"]
    assert "missed_messages" in schemas["PreferenceIn"]["properties"]["kind"]["enum"]
