"""`/openapi.json` says what the server does (issue 15, item 12).

(a) Every API route has an operation and every operation a route, and an operation's
security is its route's: called without credentials, it answers 401 exactly when the spec
says credentials are required.
(b) Requests generated from the served spec itself (hypothesis-jsonschema, a fixed number
of examples per operation, derandomised) never get a 5xx, and every status they get is one
the operation documents.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from starlette.routing import Route

from nirvana.http.api import AsgiEndpoint, openapi_path
from tests.support.http import bearer, sign_up
from tests.support.writes import many_writes

# ~650 generated requests, most of them writes by one user.
settings_with_many_writes = many_writes()

METHODS = ("get", "post", "put", "patch", "delete")
EXAMPLES_PER_OPERATION = 10
REQUIRED = [{"bearer": []}, {"cookie": []}]
OPTIONAL = [{}, {"bearer": []}, {"cookie": []}]
# Its credential is the refresh token, in the body or its cookie, not a session: without
# one it answers 401 (documented), though it needs no access token.
REFRESH = ("POST", "/api/v1/user/refresh")


async def served_spec(client) -> dict:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


def operations(spec: dict) -> list[tuple[str, str, dict]]:
    return [(m.upper(), path, op) for path, item in spec["paths"].items()
            for m, op in item.items() if m in METHODS]


def api_routes(app) -> set[tuple[str, str]]:
    """(method, path) of every route that is part of the API: declared through `Api`, or
    under /api/ (a plain route there would be an undocumented endpoint)."""
    found = set()
    for route in app.router.routes:
        if not isinstance(route, Route):
            continue
        if isinstance(route.app, AsgiEndpoint) or route.path.startswith("/api/"):
            for method in route.methods or ():
                if method != "HEAD":
                    found.add((method, openapi_path(route.path)))
    return found


def concrete(path: str, op: dict, values: dict[str, Any] | None = None) -> str:
    values = values or {}
    for param in op.get("parameters", []):
        if param["in"] == "path":
            value = values.get(param["name"],
                               1 if param["schema"]["type"] == "integer" else "x")
            path = path.replace("{" + param["name"] + "}", quote(str(value), safe=""))
    return path


async def test_every_route_has_an_operation_and_every_operation_a_route(client):
    spec = await served_spec(client)
    documented = {(m, path) for m, path, _ in operations(spec)}
    routed = api_routes(client._transport.app)
    assert routed - documented == set(), "routes with no operation"
    assert documented - routed == set(), "operations with no route"


async def test_security_says_which_routes_answer_401_without_credentials(client):
    spec = await served_spec(client)
    wrong = []
    for method, path, op in operations(spec):
        security = op["security"]
        assert security in ([], REQUIRED, OPTIONAL), (method, path, security)
        kwargs = {"json": {}} if "requestBody" in op and method != "GET" else {}
        r = await client.request(method, concrete(path, op), **kwargs)
        if (r.status_code == 401) != (security == REQUIRED or (method, path) == REFRESH):
            wrong.append((method, path, security, r.status_code, r.text[:120]))
    assert wrong == []


def _query_schema(op: dict) -> dict:
    props, required = {}, []
    for param in op.get("parameters", []):
        if param["in"] == "query":
            props[param["name"]] = param["schema"]
            if param["required"]:
                required.append(param["name"])
    return {"type": "object", "properties": props, "required": required,
            "additionalProperties": False}


def _with_components(schema: dict, spec: dict) -> dict:
    return {**schema, "components": spec["components"]}


def request_strategy(op: dict, spec: dict, known: dict[str, list[Any]]) -> st.SearchStrategy:
    path_params = {}
    for param in op.get("parameters", []):
        if param["in"] == "path":
            # Half the time an id that exists, so the route goes past its 404.
            generated = from_schema(param["schema"])
            path_params[param["name"]] = st.one_of(st.sampled_from(known[param["name"]]),
                                                   generated) \
                if known.get(param["name"]) else generated
    body = st.none()
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        body = from_schema(_with_components(content["application/json"]["schema"], spec))
    return st.fixed_dictionaries({
        "path": st.fixed_dictionaries(path_params),
        "query": from_schema(_with_components(_query_schema(op), spec)),
        "body": body,
    })


def examples_of(strategy: st.SearchStrategy) -> list[dict]:
    drawn: list[dict] = []

    @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(example: dict) -> None:
        drawn.append(example)

    collect()
    return drawn


def query_string(query: dict[str, Any]) -> dict[str, str]:
    return {k: ("true" if v is True else "false" if v is False else str(v))
            for k, v in query.items() if v is not None}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
# About 650 requests: ~30 s on an idle machine; the default 120 s would count a loaded one
# as hung.
@pytest.mark.timeout(300)
async def test_generated_requests_get_only_documented_statuses_and_never_5xx(client, services):
    spec = await served_spec(client)
    ann, bob = await sign_up(client), await sign_up(client)
    blog = (await client.post("/api/v1/blog", headers=bearer(ann),
                              json={"title": "Known", "body": "A blog to find"})).json()
    comment = (await client.post(f"/api/v1/blog/{blog['id']}/comments", headers=bearer(ann),
                                 json={"body": "first"})).json()
    await services.pool.execute(
        "INSERT INTO friendships (user_id, friend_id) VALUES ($1, $2), ($2, $1)",
        ann["user"]["id"], bob["user"]["id"])
    cid = (await client.post("/api/v1/conversations", headers=bearer(ann), json={
        "kind": "group", "name": "Known", "member_ids": [bob["user"]["id"]]})).json()["id"]
    await client.post(f"/api/v1/conversations/{cid}/messages", headers=bearer(ann),
                      json={"text": "hello"})
    known = {"id": [blog["id"], cid], "user_id": [bob["user"]["id"], ann["user"]["id"]],
             "comment_id": [comment["id"]], "seq": [1], "emoji": ["👍"]}
    undocumented, errors = [], []
    for method, path, op in operations(spec):
        if path in ("/api/v1/user/logout", "/api/v1/user/password"):
            continue  # would end or change the session the other requests use
        for example in examples_of(request_strategy(op, spec, known)):
            url = concrete(path, op, example["path"])
            kwargs: dict[str, Any] = {"params": query_string(example["query"]),
                                      "headers": bearer(ann)}
            if example["body"] is not None:
                kwargs["json"] = example["body"]
            r = await client.request(method, url, **kwargs)
            where = (method, path, r.status_code, r.text[:160], example)
            if r.status_code >= 500:
                errors.append(where)
            elif str(r.status_code) not in op["responses"]:
                undocumented.append(where)
    assert errors == [], errors[:5]
    summary = sorted({w[:3] for w in undocumented})
    assert summary == [], f"{summary}\n{undocumented[:5]}"


def test_the_username_pattern_is_the_domains_rule():
    from nirvana.domain.accounts.users import USERNAME_RE
    from nirvana.http.schemas.users import USERNAME_PATTERN
    for name in ("ann", "a.b", "a..b", ".ab", "ab.", "a_b.c9", "ab", "x" * 30, "x" * 31):
        domain = bool(USERNAME_RE.match(name)) and ".." not in name
        schema = bool(re.match(USERNAME_PATTERN, name)) and 3 <= len(name) <= 30
        assert domain == schema, name
