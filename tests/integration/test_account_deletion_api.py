"""Deleting an account over HTTP, against the real PostgreSQL and MongoDB-wire store: gone
at once for everyone, and no copy of its email, name or words left in either store."""

from __future__ import annotations

import asyncio
import json

from bson import json_util

from tests.support.http import PASSWORD, bearer, sign_up
from tests.support.waiting import wait_until

EMAIL = "zelda.quill@example.com"
NAME = "Zelda Quillfeather"
WORDS = {
    "blog": "xylophonic marmalade theorem",
    "comment": "quixotic pumpernickel remark",
    "chat": "flibbertigibbet rendezvous",
    "edited": "kerfuffle abacus",
}


async def befriend(services, a: int, b: int) -> None:
    await services.pool.execute(
        "INSERT INTO friendships (user_id, friend_id) VALUES ($1, $2), ($2, $1)", a, b)


async def postgres_text(services) -> str:
    """Every row of every table, as text."""
    tables = await services.pool.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    dump = []
    for t in tables:
        rows = await services.pool.fetch(f'SELECT t::text AS row FROM "{t["tablename"]}" t')
        dump += [r["row"] for r in rows]
    return "\n".join(dump).lower()


async def mongo_text(services) -> str:
    db = services.mongo[services.settings.mongodb_db]
    dump = []
    for name in await db.list_collection_names():
        async for doc in db[name].find({}):
            dump.append(json.dumps(doc, default=json_util.default))
    return "\n".join(dump).lower()


def outbox_text(services) -> str:
    """Every .eml file the zero-config mail transport wrote."""
    folder = services.settings.data_dir / "outbox"
    return "\n".join(f.read_text() for f in sorted(folder.glob("*.eml"))).lower()


def media_bytes(services) -> bytes:
    """Every file in the media directory, end to end."""
    folder = services.settings.data_dir / "media"
    return b"".join(f.read_bytes() for f in sorted(folder.iterdir()) if f.is_file())


async def erased(services, user_id: int) -> bool:
    for _ in range(100):
        if await services.pool.fetchval(
                "SELECT erased_at IS NOT NULL FROM deleted_users WHERE id = $1", user_id):
            return True
        await asyncio.sleep(0.05)
    return False


async def test_deletion_leaves_no_email_name_or_words_and_keeps_the_others_content(
        client, services):
    zelda = await sign_up(client, NAME, email=EMAIL)
    bob = await sign_up(client, "Bob Keeper")
    zid, bid = zelda["user"]["id"], bob["user"]["id"]
    await befriend(services, zid, bid)
    r = await client.post("/api/v1/blog", headers=bearer(zelda), json={
        "title": "Mine", "body": WORDS["blog"], "tags": ["zeldatag"]})
    assert r.status_code == 201
    r = await client.post("/api/v1/blog", headers=bearer(bob), json={
        "title": "Bob's", "body": "Bob's own words."})
    bob_blog = r.json()["id"]
    r = await client.post(f"/api/v1/blog/{bob_blog}/comments", headers=bearer(zelda),
                          json={"body": WORDS["comment"]})
    assert r.status_code == 201
    assert (await client.post(f"/api/v1/blog/{bob_blog}/like",
                              headers=bearer(zelda))).status_code == 200
    r = await client.post("/api/v1/conversations", headers=bearer(zelda),
                          json={"kind": "direct", "user_id": bid})
    cid = r.json()["id"]
    chat = f"/api/v1/conversations/{cid}/messages"
    sent = (await client.post(chat, headers=bearer(zelda), json={"text": WORDS["chat"]})).json()
    second = (await client.post(chat, headers=bearer(zelda), json={"text": "draft"})).json()
    r = await client.patch(f"{chat}/{second['seq']}", headers=bearer(zelda),
                           json={"text": WORDS["edited"]})
    assert r.status_code == 200
    r = await client.post(chat, headers=bearer(bob), json={"text": "Bob answers."})
    assert r.status_code == 201
    assert (await client.get(chat, headers=bearer(bob))).status_code == 200  # cached now
    mine = await client.post("/api/v1/media/upload", headers=bearer(zelda), files={
        "file": ("notes.txt", f"Notes of {NAME}".encode(), "text/plain")})
    assert mine.status_code == 201, mine.text
    bobs = await client.post("/api/v1/media/upload", headers=bearer(bob), files={
        "file": ("bob.txt", b"Bob's own file", "text/plain")})
    assert bobs.status_code == 201, bobs.text
    feed = (await client.get("/api/v1/feed")).json()
    assert {b["title"] for b in feed["blogs"]} == {"Mine", "Bob's"}

    # The scan below sees them while the account exists.
    assert EMAIL in await postgres_text(services)
    assert WORDS["chat"] in await mongo_text(services)
    assert WORDS["edited"] in await mongo_text(services)
    assert NAME.encode() in media_bytes(services)
    # Mail to her: a reset link, written to the outbox table and sent to the .eml outbox.
    r = await client.post("/api/v1/user/password/forgot", json={"email": EMAIL})
    assert r.status_code in (200, 202, 204), r.text
    # The reset mail is queued as the request ends: send what is due until it is out.
    async def reset_mail_sent() -> bool:
        await services.mail_sender.send_due()
        return EMAIL in outbox_text(services)
    await wait_until(reset_mail_sent, "the reset mail in the .eml outbox")
    assert EMAIL in await postgres_text(services)

    r = await client.request("DELETE", "/api/v1/user/me", headers=bearer(zelda),
                             json={"password": "not the password"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "wrong_password"
    assert (await client.get(f"/api/v1/users/{zid}", headers=bearer(bob))).status_code == 200

    r = await client.request("DELETE", "/api/v1/user/me", headers=bearer(zelda),
                             json={"password": PASSWORD})
    assert r.status_code == 204

    # Gone at once, for everyone.
    assert (await client.get(f"/api/v1/users/{zid}", headers=bearer(bob))).status_code == 404
    assert (await client.get("/api/v1/user/me", headers=bearer(zelda))).status_code == 401
    r = await client.post("/api/v1/user/signin", json={"email": EMAIL, "password": PASSWORD})
    assert r.status_code == 401
    r = await client.post("/api/v1/user/refresh", json={"refresh_token": zelda["refresh_token"]})
    assert r.status_code == 401
    blog = (await client.get(f"/api/v1/blog/{bob_blog}", headers=bearer(bob))).json()
    assert blog["likes_count"] == 0 and blog["comments_count"] == 0
    feed = (await client.get("/api/v1/feed")).json()  # anonymous: the cached list
    assert [b["title"] for b in feed["blogs"]] == ["Bob's"]

    # The chat keeps its shape: her messages are tombstones, Bob's answer stays.
    assert await erased(services, zid)
    history = (await client.get(chat, headers=bearer(bob))).json()["messages"]
    assert [(m["sender_id"], m["deleted"], m["text"]) for m in history] == [
        (zid, True, ""), (zid, True, ""), (bid, False, "Bob answers.")]
    assert sent["seq"] == history[0]["seq"]

    # Her uploads are gone from the media directory; Bob's stays.
    assert NAME.encode() not in media_bytes(services)
    assert (await client.get(mine.json()["url"])).status_code == 404
    assert (await client.get(bobs.json()["url"])).status_code == 200
    assert await services.pool.fetchval("SELECT count(*) FROM media_orphans") == 0

    # No copy of her email, name or words in either store, nor in the mail outbox.
    async def no_mail_to_her() -> bool:
        return EMAIL not in outbox_text(services)
    await wait_until(no_mail_to_her, "the .eml outbox to forget her mail")
    for dump in (await postgres_text(services), await mongo_text(services),
                 outbox_text(services)):
        for secret in (EMAIL, NAME.lower(), *WORDS.values(), "zeldatag"):
            assert secret.lower() not in dump, secret
        for word in ("xylophonic", "flibbertigibbet", "kerfuffle"):  # search terms too
            assert word not in dump, word


async def test_deletion_needs_a_signed_in_caller_with_an_allowed_origin(client):
    r = await client.request("DELETE", "/api/v1/user/me", json={"password": PASSWORD})
    assert r.status_code == 401
    ann = await sign_up(client)
    client.cookies.set("jwt", ann["jwt"])
    r = await client.request("DELETE", "/api/v1/user/me", json={"password": PASSWORD},
                             headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "origin_not_allowed"
    client.cookies.clear()
    assert (await client.get("/api/v1/user/me", headers=bearer(ann))).status_code == 200
    r = await client.request("DELETE", "/api/v1/user/me", headers=bearer(ann), json={})
    assert r.status_code == 422


async def test_openapi_documents_account_deletion(client):
    spec = (await client.get("/openapi.json")).json()["paths"]["/api/v1/user/me"]["delete"]
    assert {"204", "401", "403", "429"} <= set(spec["responses"])
    assert "requestBody" in spec
