"""A member of more than a page of conversations lists every one of them, over HTTP and the
WebSocket, by cursor (docs/protocol.md, "Your conversation list, by page"); a conversation
active while pages are read is listed at most once and arrives live."""

from __future__ import annotations

import pytest

from tests.support.chat_client import Client
from tests.support.people import befriend, user

MANY = 230


@pytest.fixture
async def member(live):
    """a in MANY groups (b in the oldest), b in one more of its own; a's socket."""
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    chat = live.services.chat
    ids = [(await chat.create_group(a["id"], f"g{n}", [b["id"]] if n == 0 else [])).id
           for n in range(MANY)]
    own = (await chat.create_group(b["id"], "b's", [])).id
    client = await Client.connect(live.ws, a, max_queue=None)
    yield a, b, ids, own, client
    await client.close()


def auth(u: dict) -> dict:
    return {"Authorization": f"Bearer {u['jwt']}"}


async def http_pages(live, u: dict, limit: int | None = None, between=None) -> list[list[dict]]:
    pages, cursor = [], None
    while True:
        params = {k: v for k, v in (("limit", limit), ("cursor", cursor)) if v is not None}
        r = await live.http.get("/api/v1/conversations", params=params, headers=auth(u))
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(body["conversations"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        if between is not None:
            await between(len(pages))


async def ws_pages(client: Client, limit: int) -> list[list[dict]]:
    pages, cursor = [], None
    while True:
        fields = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        ack = await client.command("conversations", **fields)
        assert ack["type"] == "ack", ack
        pages.append(ack["conversations"])
        cursor = ack.get("next_cursor")
        if cursor is None:
            return pages


def in_order(listed: list[dict]) -> bool:
    keys = [(c["last_activity"], c["id"]) for c in listed]
    return keys == sorted(keys, reverse=True)


async def test_every_conversation_once_over_http_by_default_pages(live, member):
    a, _, ids, own, _ = member
    pages = await http_pages(live, a)
    assert [len(p) for p in pages] == [200, MANY - 200]  # the first page is today's list
    listed = [c["id"] for p in pages for c in p]
    assert sorted(listed) == sorted(ids) and own not in listed
    assert in_order([c for p in pages for c in p])


async def test_every_conversation_once_over_the_websocket(live, member):
    _, _, ids, _, client = member
    pages = await ws_pages(client, 70)
    assert [len(p) for p in pages] == [70, 70, 70, MANY - 210]
    listed = [c["id"] for p in pages for c in p]
    assert sorted(listed) == sorted(ids)
    assert in_order([c for p in pages for c in p])
    # Without a cursor nor a limit, the answer of an older client: 200, and more follow.
    ack = await client.command("conversations")
    assert len(ack["conversations"]) == 200 and ack["next_cursor"]


async def test_a_send_while_paging_moves_the_conversation_above_the_pages(live, member):
    """A message in a conversation not listed yet takes it above the cursor: later pages
    skip it, it arrives as newMessage, and a fresh first page has it on top. One in a
    conversation already listed does not bring it back."""
    a, _, ids, _, client = member
    oldest, newest = ids[0], ids[-1]
    chat = live.services.chat

    async def send_both(page_count: int) -> None:
        if page_count == 1:
            for n, cid in enumerate((newest, oldest)):
                await chat.send_message(a["id"], cid, client_id=f"k{n}", text="now")
    pages = await http_pages(live, a, limit=50, between=send_both)
    listed = [c["id"] for p in pages for c in p]
    assert len(listed) == len(set(listed)) == MANY - 1
    assert set(ids) - set(listed) == {oldest} and newest in {c["id"] for c in pages[0]}
    arrived = {(await client.expect("newMessage"))["message"]["conversation_id"]
               for _ in range(2)}
    assert arrived == {oldest, newest}
    r = await live.http.get("/api/v1/conversations?limit=2", headers=auth(a))
    top = r.json()["conversations"]  # the two sends' order may tie in a millisecond
    assert {c["id"] for c in top} == {oldest, newest} and in_order(top)


async def test_another_users_cursor_pages_only_their_own_list(live, member):
    a, b, ids, own, _ = member
    r = await live.http.get("/api/v1/conversations?limit=1", headers=auth(a))
    cursor = r.json()["next_cursor"]
    r = await live.http.get("/api/v1/conversations", params={"cursor": cursor},
                            headers=auth(b))
    assert r.status_code == 200
    # b's own conversations older than the position: the oldest of a's groups (b is in
    # it), and none of a's that b is not in (b's own is newer, unless created in the same
    # millisecond as the position's and its id is lower).
    body = r.json()
    listed = {c["id"] for c in body["conversations"]}
    assert ids[0] in listed and listed <= {ids[0], own} and body["next_cursor"] is None


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=x", "cursor=%21%21",
                                   "cursor=bm86MTox", "cursor=YzoxOg"])
async def test_a_bad_limit_or_cursor_is_refused_in_the_error_shape(live, member, query):
    a, *_, client = member
    r = await live.http.get(f"/api/v1/conversations?{query}", headers=auth(a))
    assert r.status_code == 422, r.text
    (detail,) = r.json()["error"]["details"]
    assert detail["field"] == query.split("=")[0]
    key, value = query.split("=")
    value = int(value) if key == "limit" and value.isdigit() else value.replace("%21", "!")
    error = await client.command("conversations", **{key: value})
    assert error["type"] == "error" and error["code"] in {"invalid_command",
                                                           "validation_error"}, error
    assert error["details"][0]["field"] == key
