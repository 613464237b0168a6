"""Input that must be refused, with the field named, and nothing stored: blank-looking text
(zero-width and ideographic spaces), control characters, and booleans or floats given for
integers (issue 15, item 6)."""

from __future__ import annotations

import pytest

from tests.support.people import befriend
from tests.support.http import bearer, sign_up

# Each shows nothing: str.isspace() is False for the zero-width ones.
BLANKS = ["\u200b\u200c\u200d\u2060\ufeff", "\u3000\u200b", "\u3164", "\u00a0\u2800"]
CONTROLS = ["a\x00b", "\x00", "a\x07", "a\x1bb", "a\x7f", "a\x85"]
NOT_INTEGERS = [True, False, 1.0, "1", None]


def assert_refused(r, field: str, status: int = 422) -> None:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] in ("validation_error", "bad_request", "invalid_path"), error
    assert field in {d["field"] for d in error["details"]}, error


async def count(services, table: str) -> int:
    return await services.pool.fetchval(f"SELECT count(*) FROM {table}")


@pytest.mark.parametrize("title", BLANKS + ["a\tb", "a\nb", "a\x00b"])
async def test_blank_or_control_title_is_refused_and_no_blog_stored(client, services, title):
    ann = await sign_up(client)
    r = await client.post("/api/v1/blog", headers=bearer(ann),
                          json={"title": title, "body": "some text"})
    assert_refused(r, "title")
    assert await count(services, "blogs") == 0


@pytest.mark.parametrize("body", BLANKS)
async def test_blank_body_cannot_be_published(client, services, body):
    ann = await sign_up(client)
    r = await client.post("/api/v1/blog", headers=bearer(ann),
                          json={"title": "A title", "body": body})
    assert_refused(r, "body")
    assert await count(services, "blogs") == 0


async def test_multiline_body_keeps_tabs_and_newlines(client):
    ann = await sign_up(client)
    r = await client.post("/api/v1/blog", headers=bearer(ann),
                          json={"title": "Lines", "body": "one\n\ttwo\r\nthree"})
    assert r.status_code == 201, r.text
    assert r.json()["body"] == "one\n\ttwo\r\nthree"


@pytest.mark.parametrize("body", BLANKS + CONTROLS)
async def test_blank_or_control_comment_is_refused(client, services, body):
    ann = await sign_up(client)
    blog = (await client.post("/api/v1/blog", headers=bearer(ann),
                              json={"title": "T", "body": "B"})).json()
    r = await client.post(f"/api/v1/blog/{blog['id']}/comments", headers=bearer(ann),
                          json={"body": body})
    assert_refused(r, "body")
    assert await count(services, "blog_comments") == 0


@pytest.mark.parametrize("field,value", [
    ("name", "An\x00n"), ("name", "\u200b\u3000"), ("status", "busy\x00"),
    ("status", "two\nlines"), ("about", "a\x00"), ("username", "ann\x00x"),
    ("avatar", "https://example.com/\x00.png"),
])
async def test_profile_fields_refuse_control_and_blank_naming_the_field(client, field, value):
    ann = await sign_up(client)
    before = (await client.get("/api/v1/user/me", headers=bearer(ann))).json()
    r = await client.patch("/api/v1/user/me", headers=bearer(ann), json={field: value})
    assert_refused(r, field)
    assert (await client.get("/api/v1/user/me", headers=bearer(ann))).json() == before


@pytest.mark.parametrize("field,value", [
    ("email", "ann\x00@example.com"), ("name", "Ann\x00"), ("name", "\u200b\u2060"),
    ("password", "correct\x00horse"),
])
async def test_signup_refuses_control_and_blank_naming_the_field(client, services, field,
                                                                 value):
    body = {"email": "ann@example.com", "password": "correct horse", "name": "Ann", field: value}
    r = await client.post("/api/v1/user/signup", json=body)
    assert_refused(r, field)
    assert await count(services, "users") == 0


async def direct(client, services) -> tuple[dict, str]:
    a, _, cid = await pair(client, services)
    return a, cid


async def pair(client, services) -> tuple[dict, dict, str]:
    a, b = await sign_up(client), await sign_up(client)
    await befriend(services, a["user"]["id"], b["user"]["id"])
    r = await client.post("/api/v1/conversations", headers=bearer(a),
                          json={"kind": "direct", "user_id": b["user"]["id"]})
    return a, b, r.json()["id"]


async def history(client, session, cid) -> list[dict]:
    r = await client.get(f"/api/v1/conversations/{cid}/messages", headers=bearer(session))
    return r.json()["messages"]


@pytest.mark.parametrize("field,body", [
    ("text", {"text": "hi\x00there"}),
    ("text", {"text": "\u200b\u200c\u200d\ufeff"}),
    ("client_id", {"text": "hi", "client_id": "c\x00"}),
    ("attachments.0.name", {"text": "hi", "kind": "file", "attachments": [
        {"url": "/media/a.png", "kind": "file", "name": "a\nb"}]}),
    ("reply_to", {"text": "hi", "reply_to": True}),
])
async def test_chat_send_refuses_and_stores_nothing(client, services, field, body):
    a, cid = await direct(client, services)
    r = await client.post(f"/api/v1/conversations/{cid}/messages", headers=bearer(a), json=body)
    assert_refused(r, field)
    assert await history(client, a, cid) == []


@pytest.mark.parametrize("body", [{"text": "hi\x00"}, {"message": "\u2060"},
                                  {"text": "hi", "client_id": "\x00"}])
async def test_seed_send_refuses_and_stores_nothing(client, services, body):
    a, b = await sign_up(client), await sign_up(client)
    await befriend(services, a["user"]["id"], b["user"]["id"])
    r = await client.post(f"/api/messages/send/{b['user']['id']}", headers=bearer(a), json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"][0]["field"] in ("text", "message", "client_id")
    r = await client.get(f"/api/messages/{b['user']['id']}", headers=bearer(a))
    assert r.json() == []


@pytest.mark.parametrize("seq", NOT_INTEGERS)
async def test_read_mark_takes_only_integers(client, services, seq):
    a, b, cid = await pair(client, services)
    r = await client.post(f"/api/v1/conversations/{cid}/messages", headers=bearer(b),
                          json={"text": "one"})
    assert r.status_code == 201
    r = await client.post(f"/api/v1/conversations/{cid}/read", headers=bearer(a),
                          json={"seq": seq})
    assert_refused(r, "seq")
    (conversation,) = (await client.get("/api/v1/conversations", headers=bearer(a))).json()[
        "conversations"]
    me = next(m for m in conversation["members"] if m["user_id"] == a["user"]["id"])
    assert me["read_seq"] == 0


@pytest.mark.parametrize("query", ["before=1.0", "before=%201", "before=%2B1", "before=1_0",
                                   "limit=true", "after=%D9%A5"])
async def test_integer_query_parameters_take_only_digits(client, services, query):
    a, cid = await direct(client, services)
    r = await client.get(f"/api/v1/conversations/{cid}/messages?{query}", headers=bearer(a))
    assert_refused(r, query.split("=")[0])


@pytest.mark.parametrize("name", BLANKS + ["team\x00"])
async def test_group_name_blank_or_control_is_refused(client, services, name):
    a, b = await sign_up(client), await sign_up(client)
    await befriend(services, a["user"]["id"], b["user"]["id"])
    r = await client.post("/api/v1/conversations", headers=bearer(a), json={
        "kind": "group", "name": name, "member_ids": [b["user"]["id"]]})
    assert_refused(r, "name")
    assert (await client.get("/api/v1/conversations", headers=bearer(a))).json()[
        "conversations"] == []


@pytest.mark.parametrize("path", [f"/api/v1/users/{10**20}", f"/api/messages/{10**20}",
                                  f"/api/v1/blog/{2**63}/comments"])
async def test_ids_no_store_can_hold_are_not_found(client, path):
    ann = await sign_up(client)
    r = await client.get(path, headers=bearer(ann))
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"].endswith("not_found")
