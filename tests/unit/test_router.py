"""IndexedRouter finds fixed paths by a dict, and must answer exactly as Starlette's scan."""

from __future__ import annotations

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Match, Route, Router

from nirvana.app import create_app
from nirvana.http.router import IndexedRouter, literal_prefix, static_index
from nirvana.settings import Settings


def answer(text: str):
    async def endpoint(request: Request) -> PlainTextResponse:
        return PlainTextResponse(text)

    return endpoint


ROUTES = [
    Route("/users/{name}", answer("by name")),
    Route("/users/me", answer("me")),  # shadowed by the route above, as in Starlette
    Route("/a", answer("get a"), methods=["GET"]),
    Route("/a", answer("patch a"), methods=["PATCH"]),
    Route("/b/", answer("b")),
]


async def requests(router, *calls: tuple[str, str]) -> list[tuple[int, str]]:
    transport = httpx.ASGITransport(app=router)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        out = []
        for method, path in calls:
            r = await client.request(method, path, follow_redirects=False)
            if r.status_code == 405:  # Starlette joins a set: its order varies by process
                out.append((405, ", ".join(sorted(r.headers["allow"].split(", ")))))
            else:
                out.append((r.status_code, r.text if r.status_code == 200
                            else r.headers.get("location", "")))
        return out


async def test_indexed_router_answers_as_starlettes_router_does():
    calls = [("GET", "/users/me"), ("GET", "/users/ann"), ("GET", "/a"), ("HEAD", "/a"),
             ("PATCH", "/a"), ("GET", "/b"), ("GET", "/b/"), ("GET", "/c"),
             ("DELETE", "/users/x")]
    indexed = await requests(IndexedRouter(ROUTES), *calls)
    assert indexed == await requests(Router(ROUTES), *calls)
    assert indexed[0] == (200, "by name")  # an earlier pattern still wins over a fixed path
    assert indexed[2] == (200, "get a") and indexed[4] == (200, "patch a")
    assert indexed[5] == (307, "http://t/b/")  # the trailing-slash redirect
    assert indexed[7][0] == 404 and indexed[8][0] == 405


async def test_a_405_names_every_method_the_path_is_served_with():
    [(status, allow)] = await requests(IndexedRouter(ROUTES), ("DELETE", "/a"))
    assert status == 405 and allow == "GET, HEAD, PATCH"
    # Starlette's own router names only the first route's methods.
    assert await requests(Router(ROUTES), ("DELETE", "/a")) == [(405, "GET, HEAD")]


async def test_a_later_pattern_still_serves_a_method_the_fixed_path_lacks():
    routes = [Route("/a", answer("get a"), methods=["GET"]),
              Route("/{name}", answer("delete any"), methods=["DELETE"])]
    assert await requests(IndexedRouter(routes), ("DELETE", "/a"), ("GET", "/a")) == [
        (200, "delete any"), (200, "get a")]


async def test_nirvanas_405_is_an_error_in_its_shape_with_the_full_allow_header(tmp_path):
    app = create_app(Settings(data_dir=tmp_path), open_services=lambda: None)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.put("/api/v1/user/me")
    assert r.status_code == 405
    assert r.headers["allow"] == "DELETE, GET, HEAD, PATCH"
    assert r.json()["error"]["code"] == "method_not_allowed"


def test_a_fixed_path_an_earlier_pattern_matches_is_left_to_the_scan():
    index = static_index(ROUTES)
    assert "/users/me" not in index
    assert [r.endpoint for r in index["/a"]] == [ROUTES[2].endpoint, ROUTES[3].endpoint]
    assert [sorted(r.methods) for r in index["/a"]] == [["GET", "HEAD"], ["PATCH"]]


def first_full_match(routes, scope) -> Route | None:
    for route in routes:
        if route.matches(scope)[0] is Match.FULL:
            return route
    return None


def test_every_route_of_nirvana_is_indexed_where_the_scan_would_find_it(tmp_path):
    app = create_app(Settings(data_dir=tmp_path), open_services=lambda: None)
    assert isinstance(app.router, IndexedRouter)
    routes = app.router.routes
    index = static_index(routes)
    fixed = [r for r in routes if isinstance(r, Route) and not r.param_convertors]
    assert len(index) >= 20  # most of Nirvana's paths have no parameters
    for route in fixed:
        for method in route.methods:
            scope = {"type": "http", "path": route.path, "root_path": "", "method": method}
            scanned = first_full_match(routes, scope)
            indexed = first_full_match(index.get(route.path, []), scope)
            assert indexed in (scanned, None), (method, route.path)
            if route.path in index:
                assert indexed is scanned, (method, route.path)


def test_skipping_routes_by_their_fixed_prefix_never_changes_which_route_answers(tmp_path):
    app = create_app(Settings(data_dir=tmp_path), open_services=lambda: None)
    routes = app.router.routes
    # Every parameterised path of Nirvana with sample values, and a few near misses.
    samples = ["/api/v1/blog/12", "/api/v1/blog/slug/a-b", "/api/v1/blog/12/comments/3",
               "/blogs/12", "/blogs/some-slug", "/people/7", "/sitemaps/0.xml",
               "/tags/food/feed.xml", "/api/v1/blog/x", "/nothing/here", "/static/x.css"]
    for route in routes:
        path = getattr(route, "path", "")
        if "{" in path:
            samples.append(path.split("{", 1)[0] + "1")
    for path in samples:
        for method in ("GET", "POST", "DELETE"):
            scope = {"type": "http", "path": path, "root_path": "", "method": method}
            kept = [r for r in routes if (p := literal_prefix(r)) is None or path.startswith(p)]
            assert first_full_match(kept, scope) is first_full_match(routes, scope), path


async def test_a_route_added_after_start_is_still_found():
    router = IndexedRouter(list(ROUTES))
    router.routes.append(Route("/late/{n}", answer("late")))
    assert await requests(router, ("GET", "/late/1")) == [(200, "late")]
