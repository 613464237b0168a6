"""Refused input on the real server: path parameters that are not UTF-8 once percent-decoded
(uvicorn would hand them to the route as U+FFFD), and WebSocket frames with control
characters, blank text or booleans for integers. Each refusal names the field and nothing is
stored (issue 15, item 6)."""

from __future__ import annotations

import pytest
import websockets

from tests.support.chat_client import Client
from tests.support.people import befriend, user

UNDECODABLE = ["%FF", "%C3%28", "%C0%AF", "%ED%A0%80"]


async def conversation_with_message(live) -> tuple[dict, str]:
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    auth = {"Authorization": f"Bearer {a['jwt']}"}
    cid = (await live.http.post("/api/v1/conversations", headers=auth,
                                json={"kind": "direct", "user_id": b["id"]})).json()["id"]
    r = await live.http.post(f"/api/v1/conversations/{cid}/messages", headers=auth,
                             json={"text": "react to me"})
    assert r.status_code == 201, r.text
    return a, cid


@pytest.mark.parametrize("emoji", UNDECODABLE)
@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_undecodable_reaction_is_refused_and_not_stored(live, emoji, method):
    a, cid = await conversation_with_message(live)
    auth = {"Authorization": f"Bearer {a['jwt']}"}
    r = await live.http.request(method, f"{live.base}/api/v1/conversations/{cid}/messages/1"
                                f"/reactions/{emoji}", headers=auth)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_path"
    assert error["details"][0]["field"] == "emoji"
    r = await live.http.get(f"/api/v1/conversations/{cid}/messages", headers=auth)
    assert r.json()["messages"][0].get("reactions") is None


async def test_control_character_in_a_path_parameter_is_refused(live):
    a, cid = await conversation_with_message(live)
    auth = {"Authorization": f"Bearer {a['jwt']}"}
    r = await live.http.put(f"/api/v1/conversations/{cid}/messages/1/reactions/%F0%9F%91%8D%00",
                            headers=auth)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"][0]["field"] == "emoji"


@pytest.mark.parametrize("path", ["/api/v1/conversations/%FF/messages",
                                  "/api/v1/conversations/%C0%AF", "/media/%FF.png"])
async def test_undecodable_path_parameters_are_refused_on_every_route(live, path):
    a = await user(live.http)
    r = await live.http.request("PATCH" if path.endswith("%AF") else "GET", live.base + path,
                                headers={"Authorization": f"Bearer {a['jwt']}"},
                                **({"json": {"name": "x"}} if path.endswith("%AF") else {}))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_path"


@pytest.mark.parametrize("fields,field", [
    ({"text": "hi\x00there", "client_id": "c1"}, "text"),
    ({"text": "hi", "client_id": "c\x00"}, "client_id"),
    ({"text": "\u200b\u200c\u200d\u2060\ufeff", "client_id": "c2"}, "text"),
    ({"text": "\u3000\u200b", "client_id": "c3"}, "text"),
    ({"text": "hi", "client_id": "c4", "reply_to": True}, "reply_to"),
])
async def test_ws_send_refuses_and_stores_nothing(live, fields, field):
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    ws = await Client.connect(live.ws, a)
    try:
        opened = await ws.command("open_direct", user_id=b["id"])
        cid = opened["conversation"]["id"]
        answer = await ws.command("send", conversation_id=cid, **fields)
        assert answer["type"] == "error", answer
        assert answer["code"] in ("invalid_command", "validation_error"), answer
        assert field in {d["field"] for d in answer["details"]}, answer
        found = await ws.command("history", conversation_id=cid)
        assert found["messages"] == []
    finally:
        await ws.close()


@pytest.mark.parametrize("seq", [True, False, 1.0, "1"])
@pytest.mark.parametrize("kind", ["read", "delivered"])
async def test_ws_receipts_take_only_integers(live, seq, kind):
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    sender, reader = await Client.connect(live.ws, b), await Client.connect(live.ws, a)
    try:
        cid = (await reader.command("open_direct", user_id=b["id"]))["conversation"]["id"]
        sent = await sender.command("send", conversation_id=cid, client_id="x", text="one")
        assert sent["type"] == "ack", sent
        answer = await reader.command(kind, conversation_id=cid, seq=seq)
        assert answer["type"] == "error" and answer["details"][0]["field"] == "seq", answer
        (conversation,) = (await reader.command("conversations"))["conversations"]
        me = next(m for m in conversation["members"] if m["user_id"] == a["id"])
        assert me["read_seq"] == 0 and me["delivered_seq"] == 0, me
    finally:
        await sender.close()
        await reader.close()


@pytest.mark.parametrize("name", ["\u200b\u3000", "team\x00"])
async def test_ws_group_rename_refuses_blank_and_control(live, name):
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    auth = {"Authorization": f"Bearer {a['jwt']}"}
    cid = (await live.http.post("/api/v1/conversations", headers=auth, json={
        "kind": "group", "name": "Team", "member_ids": [b["id"]]})).json()["id"]
    ws = await Client.connect(live.ws, a)
    try:
        answer = await ws.command("update_group", conversation_id=cid, name=name)
        assert answer["type"] == "error" and answer["details"][0]["field"] == "name", answer
        (conversation,) = (await ws.command("conversations"))["conversations"]
        assert conversation["name"] == "Team"
    finally:
        await ws.close()


@pytest.mark.parametrize("since", ["%C2%B2", "%D9%A5", "1.0", "-1", "true"])
async def test_resume_on_connect_takes_only_digits(live, since):
    a = await user(live.http)
    async with websockets.connect(f"{live.ws}?token={a['jwt']}&since={since}") as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await ws.recv()
    assert closed.value.rcvd.code == 1008, closed.value
