"""The text patterns `/openapi.json` publishes are the server's rules (schemafuzz finding 3):
for each character, a field's pattern refuses it exactly when the server answers 422
`invalid_character` for that field. Single-line fields, search `q`, path parameters and
presence `user_ids` refuse tab and line breaks; multiline prose takes them."""

from __future__ import annotations

import re
from typing import Any, Callable
from urllib.parse import quote

import pytest

from tests.support.http import bearer, sign_up
from tests.support.writes import many_writes

settings_with_many_writes = many_writes()

# Every C0 control, DEL, the C1 edges and NEL, and neighbours that are not controls.
CHARS = [chr(c) for c in range(0x20)] + ["\x7f", "\x80", "\x85", "\x9f", "\xa0", " ",
                                         "\u2028", "é"]


def _pattern(spec: dict, method: str, path: str, where: str, name: str) -> str:
    op = spec["paths"][path][method.lower()]
    if where == "body":
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        prop = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"][name]
    else:
        prop = next(p["schema"] for p in op["parameters"]
                    if p["in"] == where and p["name"] == name)
    options = prop.get("anyOf", [prop])
    return next(o["pattern"] for o in options if "pattern" in o)


def _body(**fields: str) -> dict[str, Any]:
    return {"json": fields}


def _query(**fields: str) -> dict[str, Any]:
    return {"params": fields}


# (method, spec path, where, field, its value holding the character, the request's arguments)
CASES: list[tuple[str, str, str, str, Callable[[str], str], Callable[[str], dict]]] = [
    ("POST", "/api/v1/blog", "body", "title", "a{}b".format,
     lambda v: _body(title=v, body="x")),
    ("POST", "/api/v1/blog", "body", "body", "a{}b".format,
     lambda v: _body(title="t", body=v)),
    ("PATCH", "/api/v1/user/me", "body", "name", "a{}b".format, lambda v: _body(name=v)),
    ("PATCH", "/api/v1/user/me", "body", "about", "a{}b".format, lambda v: _body(about=v)),
    ("GET", "/api/v1/users/search", "query", "q", "ab{}cd".format, lambda v: _query(q=v)),
    ("GET", "/api/v1/blog/search", "query", "q", "ab{}cd".format, lambda v: _query(q=v)),
    ("GET", "/api/v1/locations", "query", "q", "ab{}cd".format, lambda v: _query(q=v)),
    ("GET", "/api/v1/blog/slug/{slug}", "path", "slug", "a{}b".format, lambda v: {}),
    ("GET", "/api/v1/presence", "query", "user_ids", "1,{}2".format,
     lambda v: _query(user_ids=v)),
]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("method,path,where,field,value_of,arguments_of", CASES,
                         ids=[f"{c[0]} {c[1]} {c[3]}" for c in CASES])
async def test_a_fields_pattern_refuses_exactly_the_characters_the_server_refuses(
        client, method, path, where, field, value_of, arguments_of):
    spec = (await client.get("/openapi.json")).json()
    pattern = re.compile(_pattern(spec, method, path, where, field))
    me = await sign_up(client)
    wrong, lines_taken = [], False
    for ch in CHARS:
        value = value_of(ch)
        url = path.replace("{" + field + "}", quote(value, safe="")) if where == "path" \
            else path
        r = await client.request(method, url, headers=bearer(me), **arguments_of(value))
        refused = r.status_code == 422 and any(
            d["field"] == field and d["code"] in ("invalid_character", "string_pattern_mismatch")
            for d in r.json()["error"].get("details") or [])
        if refused == (pattern.fullmatch(value) is not None):
            wrong.append((f"U+{ord(ch):04X}", r.status_code, r.text[:100]))
        if ch == "\n":
            lines_taken = not refused
    assert wrong == []
    # Only prose takes line breaks: every search refuses them, as titles and names do.
    assert lines_taken == (field in ("body", "about"))
