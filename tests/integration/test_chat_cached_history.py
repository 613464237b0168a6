"""The latest history page is served from memory: edits, deletes and membership changes
must show in it at once."""

from __future__ import annotations

from tests.support.people import befriend, block
from tests.support.http import bearer, sign_up


async def _pair_with_messages(client, services, n: int = 3):
    a, b = await sign_up(client), await sign_up(client)
    await befriend(services, a["user"]["id"], b["user"]["id"])
    r = await client.post("/api/v1/conversations", headers=bearer(a),
                          json={"kind": "direct", "user_id": b["user"]["id"]})
    cid = r.json()["id"]
    for i in range(1, n + 1):
        r = await client.post(f"/api/v1/conversations/{cid}/messages", headers=bearer(a),
                              json={"client_id": f"c{i}", "text": f"m{i}"})
        assert r.status_code == 201, r.text
    return a, b, cid


async def _texts(client, session, cid) -> list[str]:
    r = await client.get(f"/api/v1/conversations/{cid}/messages", headers=bearer(session))
    assert r.status_code == 200, r.text
    return [m["text"] for m in r.json()["messages"]]


async def test_edit_and_delete_show_in_the_cached_latest_page(client, services):
    a, b, cid = await _pair_with_messages(client, services)
    assert await _texts(client, b, cid) == ["m1", "m2", "m3"]  # now cached
    r = await client.patch(f"/api/v1/conversations/{cid}/messages/2", headers=bearer(a),
                           json={"text": "m2 edited"})
    assert r.status_code == 200, r.text
    assert await _texts(client, b, cid) == ["m1", "m2 edited", "m3"]
    r = await client.delete(f"/api/v1/conversations/{cid}/messages/1", headers=bearer(a))
    assert r.status_code == 200, r.text
    assert await _texts(client, b, cid) == ["", "m2 edited", "m3"]  # a tombstone


async def test_delete_for_me_hides_from_me_only_also_in_the_chat_list(client, services):
    a, b, cid = await _pair_with_messages(client, services)
    assert await _texts(client, b, cid) == ["m1", "m2", "m3"]
    r = await client.delete(f"/api/v1/conversations/{cid}/messages/3?scope=me",
                            headers=bearer(b))
    assert r.status_code == 200, r.text
    assert await _texts(client, b, cid) == ["m1", "m2"]
    assert await _texts(client, a, cid) == ["m1", "m2", "m3"]
    listed = (await client.get("/api/v1/conversations", headers=bearer(b))).json()
    assert listed["conversations"][0]["last_message"] is None
    listed = (await client.get("/api/v1/conversations", headers=bearer(a))).json()
    assert listed["conversations"][0]["last_message"]["text"] == "m3"


async def test_group_of_people_who_blocked_each_other_is_refused(client, services):

    a, b, c = await sign_up(client), await sign_up(client), await sign_up(client)
    for other in (b, c):
        await befriend(services, a["user"]["id"], other["user"]["id"])
    await block(services, b["user"]["id"], c["user"]["id"])
    r = await client.post("/api/v1/conversations", headers=bearer(a), json={
        "kind": "group", "name": "trip", "member_ids": [b["user"]["id"], c["user"]["id"]]})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["code"] == "blocked"


async def test_delete_for_everyone_scrubs_the_copies_kept_for_resume(client, services):
    a, b, cid = await _pair_with_messages(client, services, n=1)
    r = await client.patch(f"/api/v1/conversations/{cid}/messages/1", headers=bearer(a),
                           json={"text": "secret edit"})
    assert r.status_code == 200, r.text
    r = await client.delete(f"/api/v1/conversations/{cid}/messages/1", headers=bearer(a))
    assert r.status_code == 200, r.text
    events = services.mongo[services.settings.mongodb_db]["chat_events"]
    copies = [e async for e in events.find({"message.conversation_id": cid})]
    assert copies and all(e["message"]["text"] == "" for e in copies)
    messages = services.mongo[services.settings.mongodb_db]["chat_messages"]
    assert not [m async for m in messages.find({"text": "secret edit"})]
