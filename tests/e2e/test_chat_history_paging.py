"""History pages by seq, the same over the WebSocket and over HTTP: the newest page, older
pages with `before`, onward with `after`, at most `limit` (≤ 100), always ascending."""

from __future__ import annotations

import pytest

from tests.support.chat_client import Client
from tests.support.people import befriend, user

PAGES = [
    ({"limit": 3}, [5, 6, 7]),  # no cursor: the newest
    ({"before": 5, "limit": 3}, [2, 3, 4]),
    ({"before": 2, "limit": 3}, [1]),
    ({"before": 1}, []),
    ({"after": 4, "limit": 2}, [5, 6]),
    ({"after": 0, "limit": 2}, [1, 2]),
    ({"after": 7}, []),
    ({}, [1, 2, 3, 4, 5, 6, 7]),
]


@pytest.fixture
async def seven_messages(live):
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    ca = await Client.connect(live.ws, a)
    cid = (await ca.command("open_direct", user_id=b["id"]))["conversation"]["id"]
    for i in range(1, 8):
        await ca.command("send", conversation_id=cid, client_id=str(i), text=f"m{i}")
    yield ca, a, cid
    await ca.close()


@pytest.mark.parametrize("query, seqs", PAGES, ids=[str(q) for q, _ in PAGES])
async def test_history_pages_over_the_websocket(seven_messages, query, seqs):
    ca, _, cid = seven_messages
    answer = await ca.command("history", conversation_id=cid, **query)
    assert answer["type"] == "ack", answer
    assert [m["seq"] for m in answer["messages"]] == seqs
    assert [m["text"] for m in answer["messages"]] == [f"m{s}" for s in seqs]


@pytest.mark.parametrize("query, seqs", PAGES, ids=[str(q) for q, _ in PAGES])
async def test_history_pages_over_http(live, seven_messages, query, seqs):
    _, a, cid = seven_messages
    r = await live.http.get(f"/api/v1/conversations/{cid}/messages", params=query,
                            headers={"Authorization": f"Bearer {a['jwt']}"})
    assert r.status_code == 200, r.text
    assert [m["seq"] for m in r.json()["messages"]] == seqs


@pytest.mark.parametrize("query", [{"limit": 101}, {"limit": 0}, {"before": 0},
                                   {"after": -1}])
async def test_a_page_out_of_bounds_is_refused_on_both(live, seven_messages, query):
    ca, a, cid = seven_messages
    answer = await ca.command("history", conversation_id=cid, **query)
    assert answer["type"] == "error" and answer["code"] == "invalid_command"
    r = await live.http.get(f"/api/v1/conversations/{cid}/messages", params=query,
                            headers={"Authorization": f"Bearer {a['jwt']}"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
