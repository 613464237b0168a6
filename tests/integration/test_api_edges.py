"""The API's edges over HTTP, against the real stores: malformed and oversized bodies, unknown
routes, the one error shape for what a route raises, the access log, health, readiness and
the OpenAPI document (moved out of test_accounts_api.py, which holds the accounts)."""

from __future__ import annotations

from tests.support.http import PASSWORD, bearer, sign_up
from tests.support.people import befriend


async def test_malformed_json_oversized_body_and_wrong_type(client):
    r = await client.post("/api/v1/user/signin", content=b"{not json",
                          headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"
    r = await client.post("/api/v1/user/signin", content=b"x" * (2 << 20),
                          headers={"content-type": "application/json"})
    assert r.status_code == 413
    r = await client.post("/api/v1/user/signin", content=b"email=a", 
                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415
    r = await client.post("/api/v1/user/signin", json={"email": 5, "password": ["x"]})
    assert r.status_code == 422
    assert {d["field"] for d in r.json()["error"]["details"]} == {"email", "password"}
    r = await client.post("/api/v1/user/signin", json=[1, 2])
    assert r.status_code == 422


async def test_a_key_named_twice_in_one_object_is_refused_and_nothing_stored(client, services):
    # A proxy reading the first of the two would check a different request than the one
    # served: neither the top level nor a nested object may repeat a key.
    me = bearer(await sign_up(client))
    json_type = {"content-type": "application/json"}
    for body in (b'{"title": "first", "body": "x", "title": "second"}',
                 b'{"title": "t", "body": "x", "location": '
                 b'{"city": "Oslo", "country": "Norway", "city": "Bergen"}}'):
        r = await client.post("/api/v1/blog", content=body, headers={**me, **json_type})
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["code"] == "malformed_json"
        assert error["details"][0]["code"] == "duplicate_key"
        assert error["details"][0]["field"] in ("title", "city")
    assert await services.pool.fetchval("SELECT count(*) FROM blogs") == 0
    # An escaped key is the same key.
    r = await client.post("/api/v1/blog", content=b'{"title": "t", "body": "x", '
                          b'"\\u0074itle": "u"}', headers={**me, **json_type})
    assert r.status_code == 400 and r.json()["error"]["details"][0]["field"] == "title", r.text
    assert await services.pool.fetchval("SELECT count(*) FROM blogs") == 0


async def test_the_same_keys_in_different_objects_are_no_duplicate(client, services):
    ann, bob = await sign_up(client), await sign_up(client)
    await befriend(services, ann["user"]["id"], bob["user"]["id"])
    cid = (await client.post("/api/v1/conversations", headers=bearer(ann), json={
        "kind": "direct", "user_id": bob["user"]["id"]})).json()["id"]
    # Each attachment names url, kind and name, and the message its own kind.
    body = (b'{"kind": "file", "text": "two files", "attachments": ['
            b'{"url": "https://example.com/a.pdf", "kind": "file", "name": "a.pdf"}, '
            b'{"url": "https://example.com/b.pdf", "kind": "file", "name": "b.pdf"}]}')
    r = await client.post(f"/api/v1/conversations/{cid}/messages", content=body,
                          headers={**bearer(ann), "content-type": "application/json"})
    assert r.status_code == 201, r.text
    assert [a["name"] for a in r.json()["attachments"]] == ["a.pdf", "b.pdf"]


async def test_unknown_route_and_method_use_the_error_shape(client):
    r = await client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await client.delete("/api/v1/user/signin")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


async def test_health_ready_and_openapi(client):
    health = await client.get("/health")
    assert health.json() == {"status": "ok"}
    assert health.headers["x-content-type-options"] == "nosniff"
    ready = await client.get("/ready")
    assert ready.status_code == 200 and ready.json()["postgres"] == "ok"
    assert ready.json()["chat_writer"] == "here"  # one process writes its own chat
    spec = (await client.get("/openapi.json")).json()
    signup = spec["paths"]["/api/v1/user/signup"]["post"]
    ref = signup["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(schema["required"]) == {"email", "password", "name"}
    assert "201" in signup["responses"] and "422" in signup["responses"]
    assert spec["paths"]["/api/v1/user/me"]["patch"]["security"]


async def test_unexpected_error_is_logged_once_and_answered_generically(services, settings,
                                                                        caplog):
    import httpx
    from starlette.routing import Route

    from nirvana.app import create_app

    import logging

    caplog.set_level(logging.INFO, logger="nirvana.access")
    app = create_app(settings, services)

    async def broken(request):
        raise RuntimeError("secret detail: hunter2")

    app.router.routes.append(Route("/boom", broken))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        r = await c.get("/boom", headers={"X-Request-ID": "req-12345678"})
    assert r.status_code == 500
    body = r.json()["error"]
    assert body["code"] == "internal_error" and "req-12345678" in body["message"]
    assert "hunter2" not in r.text and "Traceback" not in r.text
    assert r.headers["x-request-id"] == "req-12345678"
    errors = [rec for rec in caplog.records if rec.levelname == "ERROR"]
    assert len(errors) == 1 and errors[0].request_id == "req-12345678"
    access = [rec for rec in caplog.records if rec.name == "nirvana.access"]
    assert access[0].status == 500 and access[0].method == "GET"


async def test_errors_raised_by_a_route_go_through_the_error_table(services, settings, caplog):
    import logging

    import httpx
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    from nirvana.app import create_app

    caplog.set_level(logging.INFO, logger="nirvana.access")
    app = create_app(settings, services)

    async def store_down(request):
        raise ConnectionError("connection refused")

    async def fails_midway(request):
        async def body():
            yield b"first part"
            raise RuntimeError("broke after the headers went out")
        return StreamingResponse(body(), media_type="text/plain")

    app.router.routes += [Route("/down", store_down), Route("/midway", fails_midway)]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        down = await c.get("/down")
    # A store's connection error is the table's 503 in the one shape, with its Retry-After.
    assert down.status_code == 503 and down.headers["retry-after"] == "5"
    assert down.json()["error"]["code"] == "unavailable" and down.headers["x-request-id"]

    # Raw ASGI: httpx's test transport cannot return a response whose app failed midway.
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    # spec 2.4: the server reports a disconnect when a send fails, so Starlette does not
    # also poll `receive` for one.
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
             "http_version": "1.1", "method": "GET", "scheme": "http", "path": "/midway", "raw_path": b"/midway",
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
             "server": ("testserver", 80), "headers": [(b"x-request-id", b"req-midway-1")]}
    await app(scope, receive, send)
    # Once the status line is out, no second response: the client keeps what it got, the
    # error is logged once with the request id, and the access line says 500.
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert [m["status"] for m in starts] == [200]
    assert b"".join(m.get("body", b"") for m in sent) == b"first part"
    errors = [rec for rec in caplog.records if rec.levelname == "ERROR"]
    assert len(errors) == 1 and errors[0].request_id == "req-midway-1"
    assert "broke after the headers" in caplog.text
    access = {rec.path: rec.status for rec in caplog.records if rec.name == "nirvana.access"}
    assert access == {"/down": 503, "/midway": 500}


async def test_access_log_line_has_route_status_user_and_duration(client, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="nirvana.access")
    session = await sign_up(client)
    await client.get("/api/v1/user/me", headers=bearer(session))
    line = [rec for rec in caplog.records if rec.name == "nirvana.access"][-1]
    assert (line.method, line.route, line.status) == ("GET", "/api/v1/user/me", 200)
    assert line.user_id == session["user"]["id"] and line.duration_ms >= 0
    assert len(line.request_id) >= 8
    assert session["jwt"] not in caplog.text and PASSWORD not in caplog.text


async def test_ready_names_the_store_that_is_down(services, settings, tmp_path):
    import dataclasses
    from urllib.parse import quote

    import httpx
    from pymongo import AsyncMongoClient

    from nirvana.app import create_app

    # A Unix socket that is not there: each connect fails before it yields to the loop.
    # Against a TCP port, closing the client could cancel its monitor mid-connect, and
    # pymongo then leaves that socket for the garbage collector (a ResourceWarning).
    gone = quote(str(tmp_path / "mongo-gone.sock"), safe="")
    dead = AsyncMongoClient(f"mongodb://{gone}/?directConnection=true",
                            serverSelectionTimeoutMS=200)
    broken = dataclasses.replace(services, mongo=dead)
    app = create_app(settings, broken)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as c:
        r = await c.get("/ready")
        assert (await c.get("/health")).status_code == 200
    await dead.close()
    assert r.status_code == 503
    error = r.json()["error"]
    assert error["code"] == "unavailable" and error["message"] == "MongoDB unreachable."
    assert error["details"]["postgres"] == "ok"


async def test_openapi_lists_401_where_a_credential_can_be_refused(client):
    """Wrong password, a spent refresh token, a bad token on an optional-auth route: each
    answers 401, so each route documents it."""
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path, method in (("/api/v1/user/signin", "post"), ("/api/v1/user/refresh", "post"),
                         ("/api/v1/user/logout", "post"), ("/api/v1/user/me", "get")):
        assert "401" in paths[path][method]["responses"], path
    r = await client.post("/api/v1/user/logout", headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401


async def test_every_operation_lists_the_400_of_a_query_parameter_given_twice(client):
    # A client checking each answer against /openapi.json meets that 400 on any route,
    # also on one that reads no query.
    me = bearer(await sign_up(client))
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in ("/health", "/api/v1/conversations", "/api/v1/user/me"):
        r = await client.get(f"{path}?x=1&x=2", headers=me)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_query", r.text
    assert [(path, method) for path, operations in paths.items()
            for method, operation in operations.items()
            if "400" not in operation["responses"]] == []


async def test_a_query_parameter_given_twice_is_refused(client):
    # No query parameter is a list: the second `q` is not the first, as a proxy reading
    # the first would see it.
    me = bearer(await sign_up(client))
    for url, twice in (("/api/v1/blog/search?q=a&q=b", ["q"]),
                       ("/api/v1/users/search?limit=1&q=ann&limit=50&q=bob", ["limit", "q"])):
        r = await client.get(url, headers=me)
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["code"] == "invalid_query"
        assert [(d["field"], d["code"]) for d in error["details"]] == [
            (name, "duplicate_parameter") for name in twice]
    assert (await client.get("/api/v1/blog/search?q=a&tag=b", headers=me)).status_code == 200
    # A route that reads no query refuses a name given twice all the same (README, Errors).
    r = await client.post("/api/v1/notifications/read?x=1&x=2", headers=me)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_query", r.text
    # The search page is a page, not the API: its form sends each name once, and a link
    # naming one twice still finds with the last, as before.
    assert (await client.get("/search?q=a&q=b")).status_code == 200
