"""Each refusal of a chat HTTP route listed here (docs/protocol.md, "Errors") answers a
status /openapi.json lists for that route. They are provoked on purpose, since the generated
requests of test_openapi_contract.py rarely reach them (a reused `client_id` needs an earlier
send). Not provoked: `conflict` (409 on a send, a race for a unique key), `last_member` (409,
the route lists it for `not_a_group`) and 503 (a store down). A refusal added to a route
later is covered only once a row here provokes it."""

from __future__ import annotations

from typing import Any

from tests.support.http import bearer, sign_up
from tests.support.people import befriend

CONVERSATIONS = "/api/v1/conversations"
CONVERSATION = CONVERSATIONS + "/{id}"
MESSAGES = CONVERSATION + "/messages"
MESSAGE = MESSAGES + "/{seq}"
REACTION = MESSAGE + "/reactions/{emoji}"
MEMBER = CONVERSATION + "/members/{user_id}"


async def test_every_chat_refusal_has_a_status_the_route_documents(client, services):
    ann, bob, cat = [await sign_up(client) for _ in range(3)]
    a, b, c = (s["user"]["id"] for s in (ann, bob, cat))
    await befriend(services, a, b)
    group = (await client.post(CONVERSATIONS, headers=bearer(ann), json={
        "kind": "group", "name": "Trip", "member_ids": [b]})).json()["id"]
    direct = (await client.post(CONVERSATIONS, headers=bearer(ann), json={
        "kind": "direct", "user_id": b})).json()["id"]
    for n, text in ((1, "first"), (2, "gone")):
        r = await client.post(f"{CONVERSATIONS}/{group}/messages", headers=bearer(ann),
                              json={"client_id": f"m{n}", "text": text})
        assert r.status_code == 201, r.text
    r = await client.delete(f"{CONVERSATIONS}/{group}/messages/2", headers=bearer(ann))
    assert r.status_code == 200, r.text
    # (who, method, path, path values, body or query, status, code)
    cases: list[tuple[dict, str, str, dict[str, Any], dict[str, Any] | None, int, str]] = [
        (ann, "POST", CONVERSATIONS, {}, {"kind": "direct", "user_id": c}, 403, "not_friends"),
        (ann, "POST", CONVERSATIONS, {}, {"kind": "direct", "user_id": a}, 422,
         "validation_error"),
        (ann, "POST", CONVERSATIONS, {}, {"kind": "group", "name": "X", "member_ids": [c]},
         403, "not_friends"),
        (ann, "POST", CONVERSATIONS, {}, {"kind": "group", "name": " ", "member_ids": [b]},
         422, "validation_error"),
        (cat, "PATCH", CONVERSATION, {"id": group}, {"name": "Y"}, 403, "not_member"),
        (ann, "PATCH", CONVERSATION, {"id": direct}, {"name": "Y"}, 409, "not_a_group"),
        (ann, "POST", CONVERSATION + "/members", {"id": group}, {"user_ids": [c]}, 422,
         "validation_error"),
        (bob, "POST", CONVERSATION + "/members", {"id": group}, {"user_ids": [c]}, 403,
         "not_allowed"),
        (ann, "POST", CONVERSATION + "/members", {"id": direct}, {"user_ids": [c]}, 409,
         "not_a_group"),
        (bob, "DELETE", MEMBER, {"id": group, "user_id": a}, None, 403, "not_allowed"),
        (ann, "DELETE", MEMBER, {"id": direct, "user_id": b}, None, 409, "not_a_group"),
        (ann, "PUT", MEMBER + "/role", {"id": group, "user_id": c}, {"role": "admin"}, 422,
         "validation_error"),
        (ann, "PUT", MEMBER + "/role", {"id": direct, "user_id": b}, {"role": "admin"}, 409,
         "not_a_group"),
        (cat, "GET", MESSAGES, {"id": group}, None, 403, "not_member"),
        (ann, "GET", MESSAGES, {"id": group}, {"before": 2 ** 63}, 422, "value_out_of_range"),
        (cat, "POST", MESSAGES, {"id": group}, {"client_id": "x", "text": "hi"}, 403,
         "not_member"),
        (ann, "POST", MESSAGES, {"id": direct}, {"client_id": "m1", "text": "hi"}, 409,
         "client_id_reused"),
        (ann, "POST", MESSAGES, {"id": group}, {"client_id": "x", "text": " "}, 422,
         "validation_error"),
        (cat, "POST", CONVERSATION + "/read", {"id": group}, {"seq": 1}, 403, "not_member"),
        (ann, "PATCH", MESSAGE, {"id": group, "seq": 9}, {"text": "z"}, 404,
         "message_not_found"),
        (bob, "PATCH", MESSAGE, {"id": group, "seq": 1}, {"text": "z"}, 403, "not_allowed"),
        (ann, "PATCH", MESSAGE, {"id": group, "seq": 2}, {"text": "z"}, 409,
         "message_deleted"),
        (ann, "PATCH", MESSAGE, {"id": group, "seq": 1}, {"text": " "}, 422,
         "validation_error"),
        (ann, "DELETE", MESSAGE, {"id": group, "seq": 9}, None, 404, "message_not_found"),
        (bob, "DELETE", MESSAGE, {"id": group, "seq": 1}, None, 403, "not_allowed"),
    ]
    for method in ("PUT", "DELETE"):
        cases += [
            (cat, method, REACTION, {"id": group, "seq": 1, "emoji": "👍"}, None, 403,
             "not_member"),
            (ann, method, REACTION, {"id": group, "seq": 9, "emoji": "👍"}, None, 404,
             "message_not_found"),
            (ann, method, REACTION, {"id": group, "seq": 2, "emoji": "👍"}, None, 409,
             "message_deleted"),
            (ann, method, REACTION, {"id": group, "seq": 1, "emoji": "ok"}, None, 422,
             "validation_error"),
        ]
    cases += [
        (cat, "GET", "/api/v1/messages/search", {}, {"q": "first", "conversation_id": group},
         403, "not_member"),
        (ann, "GET", "/api/v1/messages/search", {}, {"q": " "}, 422, "validation_error"),
        (ann, "GET", "/api/v1/presence", {}, {"user_ids": "x"}, 422, "validation_error"),
        (cat, "PUT", CONVERSATION + "/mute", {"id": group}, None, 403, "not_member"),
        (cat, "DELETE", CONVERSATION + "/mute", {"id": group}, None, 403, "not_member"),
    ]
    documented = {(m.upper(), path): set(op["responses"])
                  for path, item in (await client.get("/openapi.json")).json()["paths"].items()
                  for m, op in item.items()}
    wrong = []
    for who, method, path, values, sent, status, code in cases:
        url = path.format(**values)
        kwargs: dict[str, Any] = {"headers": bearer(who)}
        if sent is not None:
            kwargs["params" if method in ("GET", "DELETE") else "json"] = sent
        r = await client.request(method, url, **kwargs)
        answered = (r.status_code, r.json()["error"]["code"])
        listed = str(r.status_code) in documented[(method, path)]
        if answered != (status, code) or not listed:
            wrong.append((method, path, answered, "listed" if listed else "NOT LISTED"))
    assert wrong == []
