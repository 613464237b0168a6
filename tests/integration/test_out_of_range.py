"""Numbers no store can hold are refused with 422, never a 500 or a failed batch."""

from __future__ import annotations

from tests.support.people import befriend
from tests.support.http import bearer, sign_up

HUGE = 10**20


async def test_huge_ids_in_paths_and_queries_are_422_or_404(client):
    ann = await sign_up(client)
    for path in (f"/api/messages/{HUGE}", f"/api/v1/blog/search?author={HUGE}"):
        r = await client.get(path, headers=bearer(ann))
        assert r.status_code in (404, 422), (path, r.status_code, r.text)
        assert "error" in r.json()
    r = await client.post(f"/api/messages/send/{HUGE}", json={"text": "hi"},
                          headers=bearer(ann))
    assert r.status_code in (404, 422), r.text


async def test_huge_attachment_size_fails_only_its_own_send(client, services):
    a, b = await sign_up(client), await sign_up(client)
    await befriend(services, a["user"]["id"], b["user"]["id"])
    cid = (await client.post("/api/v1/conversations", headers=bearer(a),
                             json={"kind": "direct", "user_id": b["user"]["id"]})).json()["id"]
    r = await client.post(f"/api/v1/conversations/{cid}/messages", headers=bearer(a), json={
        "client_id": "big", "kind": "file",
        "attachments": [{"url": "/media/x.png", "kind": "file", "size": HUGE}]})
    assert r.status_code == 422, r.text
    r = await client.post(f"/api/v1/conversations/{cid}/messages", headers=bearer(a),
                          json={"client_id": "ok", "text": "still fine"})
    assert r.status_code == 201, r.text
