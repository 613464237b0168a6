"""UNVERIFIED_MAY_WRITE=false: an unverified email may read and draft, not publish or chat."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.support.http import bearer, mails, mails_when, sign_up, verify_token_in


@pytest.fixture
def settings(base_settings, tmp_path):
    return replace(base_settings, data_dir=tmp_path, unverified_may_write=False)


async def verify(client, settings, session: dict) -> None:
    before = len(mails(settings.data_dir / "outbox"))
    assert (await client.post("/api/v1/user/email/verification",
                              headers=bearer(session))).status_code == 202
    _, body = (await mails_when(settings.data_dir / "outbox", before + 1))[-1]
    token = verify_token_in(body)
    assert (await client.post("/api/v1/user/email/verify",
                              json={"token": token})).status_code == 200


async def test_unverified_accounts_draft_but_neither_publish_nor_chat_until_verified(
        client, services, settings):
    ann, bob = await sign_up(client), await sign_up(client)
    await services.pool.execute(
        "INSERT INTO friendships (user_id, friend_id) VALUES ($1, $2), ($2, $1)",
        ann["user"]["id"], bob["user"]["id"])
    blog = {"title": "Hello", "body": "Words."}
    r = await client.post("/api/v1/blog", headers=bearer(ann), json=blog)
    assert r.status_code == 403 and r.json()["error"]["code"] == "email_unverified"
    r = await client.post("/api/v1/blog", headers=bearer(ann), json={**blog, "status": "draft"})
    assert r.status_code == 201
    draft = r.json()
    r = await client.put(f"/api/v1/blog/{draft['id']}", headers=bearer(ann), json={
        "status": "published", "updated_at": draft["updated_at"]})
    assert r.status_code == 403 and r.json()["error"]["code"] == "email_unverified"
    cid = (await client.post("/api/v1/conversations", headers=bearer(ann), json={
        "kind": "direct", "user_id": bob["user"]["id"]})).json()["id"]
    r = await client.post(f"/api/v1/conversations/{cid}/messages", headers=bearer(ann),
                          json={"text": "hi"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "email_unverified"

    await verify(client, settings, ann)
    assert (await client.post("/api/v1/blog", headers=bearer(ann), json=blog)).status_code == 201
    r = await client.post(f"/api/v1/conversations/{cid}/messages", headers=bearer(ann),
                          json={"text": "hi"})
    assert r.status_code == 201
