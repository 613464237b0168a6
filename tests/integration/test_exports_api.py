"""Data exports over HTTP, against the real PostgreSQL and MongoDB-wire store: what the
archive holds for a user with friends, blogs and chats; that it holds nothing private of
anyone else; who may download it and until when; the rate limit; and a restart between the
request and the build."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile

from nirvana.bootstrap import build_services
from nirvana.domain.chat.entities import MessageKind
from tests.support.http import bearer, mails_when, sign_up
from tests.support.images import png
from tests.support.people import befriend, block


async def send(services, user_id: int, conversation_id: str, text: str) -> int:
    message, _ = await services.chat.send_message(user_id, conversation_id, client_id=text,
                                                  text=text, kind=MessageKind.TEXT)
    return message.seq


async def ready_export(client, services, session: dict) -> dict:
    r = await client.post("/api/v1/user/exports", headers=bearer(session))
    assert r.status_code == 202, r.text
    assert r.json()["state"] == "pending"
    assert await services.exports.build_next() is not None
    r = await client.get("/api/v1/user/exports", headers=bearer(session))
    [latest, *_] = r.json()["exports"]
    assert latest["state"] == "ready" and latest["download_url"], latest
    return latest


async def download(client, session: dict, export: dict):
    return await client.get(export["download_url"], headers=bearer(session))


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


async def a_social_world(client, services) -> dict:
    """Ann, with friends Bob and Carl, a stranger Dora who blocks her, and Eve whom she
    blocks; blogs, comments, likes, follows, and chats she is in and one she is not."""
    ann = await sign_up(client, "Ann Exporter", email="ann@example.com")
    bob = await sign_up(client, "Bob Friend", email="bob.private@example.com")
    carl = await sign_up(client, "Carl Friend", email="carl.private@example.com")
    dora = await sign_up(client, "Dora Stranger", email="dora.private@example.com")
    eve = await sign_up(client, "Eve Blocked", email="eve.private@example.com")
    a, b, c, d, e = (s["user"]["id"] for s in (ann, bob, carl, dora, eve))
    await befriend(services, a, b)
    await befriend(services, a, c)
    await befriend(services, b, c)
    await block(services, d, a)  # Dora's block is her business, not Ann's data
    await block(services, a, e)
    r = await client.post("/api/v1/image/upload", headers=bearer(ann),
                          files={"file": ("me.png", png(3, 3), "image/png")})
    avatar = r.json()["url"]
    await client.patch("/api/v1/user/me", headers=bearer(ann), json={"avatar": avatar})
    r = await client.post("/api/v1/blog", headers=bearer(ann), json={
        "title": "Ann's public diary", "body": "ann blog words"})
    ann_blog = r.json()["id"]
    await client.post("/api/v1/blog", headers=bearer(ann), json={
        "title": "Ann's draft", "body": "ann draft words", "status": "draft"})
    r = await client.post("/api/v1/blog", headers=bearer(bob), json={
        "title": "Bob's friends-only title", "body": "bob friends words",
        "audience": "friends"})
    bob_blog = r.json()["id"]
    await client.post(f"/api/v1/blog/{ann_blog}/comments", headers=bearer(bob),
                      json={"body": "bob comments on ann"})
    await client.post(f"/api/v1/blog/{bob_blog}/comments", headers=bearer(ann),
                      json={"body": "ann comments on bob"})
    await client.post(f"/api/v1/blog/{bob_blog}/like", headers=bearer(ann))
    await client.post(f"/api/v1/blog/{ann_blog}/like", headers=bearer(bob))
    await client.post(f"/api/v1/follows/{c}", headers=bearer(ann))
    direct = await services.chat.open_direct(a, b)
    await send(services, a, direct.id, "ann says hi to bob")
    await send(services, b, direct.id, "bob answers ann")
    hidden = await send(services, b, direct.id, "ann deleted this for herself")
    await services.chat.delete_message(a, direct.id, hidden, for_everyone=False)
    group = await services.chat.create_group(a, "Trio", [b, c])
    await send(services, c, group.id, "carl writes to the trio")
    without_ann = await services.chat.create_group(b, "Bob and Carl", [c])
    await send(services, b, without_ann.id, "bob whispers to carl only")
    return {"ann": ann, "bob": bob, "carl": carl, "ids": (a, b, c, d, e), "avatar": avatar,
            "ann_blog": ann_blog, "bob_blog": bob_blog, "direct": direct.id,
            "group": group.id}


async def test_the_export_holds_the_users_data_and_nothing_private_of_others(
        client, services, settings):
    w = await a_social_world(client, services)
    ann = w["ann"]
    a, b, c, d, e = w["ids"]
    r = await client.post("/api/v1/media/upload", headers=bearer(w["bob"]),
                          files={"file": ("bob-secret-name.png", png(2, 2), "image/png")})
    assert r.status_code == 201, r.text
    export = await ready_export(client, services, ann)
    r = await download(client, ann, export)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert "attachment" in r.headers["content-disposition"]
    files = unzip(r.content)
    data = {name: json.loads(body) for name, body in files.items() if name.endswith(".json")}

    assert data["profile.json"]["email"] == "ann@example.com"
    assert data["profile.json"]["name"] == "Ann Exporter"
    assert {blog["title"] for blog in data["blogs.json"]} == {"Ann's public diary",
                                                             "Ann's draft"}
    assert [x["body"] for x in data["comments.json"]["written"]] == ["ann comments on bob"]
    assert [(x["author_id"], x["body"]) for x in
            data["comments.json"]["received_on_your_blogs"]] == [(b, "bob comments on ann")]
    assert [(x["blog_id"], x["kind"]) for x in data["likes.json"]["given"]] == [
        (w["bob_blog"], "like")]
    assert [x["user_id"] for x in data["likes.json"]["received_on_your_blogs"]] == [b]
    social = data["social.json"]
    assert sorted(x["user_id"] for x in social["friends"]) == [b, c]
    assert [x["user_id"] for x in social["following"]] == [c]
    assert [x["user_id"] for x in social["blocking"]] == [e]
    conversations = {x["id"]: x for x in data["conversations.json"]}
    assert set(conversations) == {w["direct"], w["group"]}
    assert [m["text"] for m in conversations[w["direct"]]["messages"]] == [
        "ann says hi to bob", "bob answers ann"]
    assert [m["text"] for m in conversations[w["group"]]["messages"]] == [
        "carl writes to the trio"]
    people = {p["id"]: p for p in data["people.json"]}
    assert set(people) == {b, c, e}
    assert people[b] == {"id": b, "username": w["bob"]["user"]["username"],
                         "name": "Bob Friend"}
    avatar_name = w["avatar"].rsplit("/", 1)[1]
    assert data["uploads.json"] == [w["avatar"]]
    # The upload ledger, with the name each file was sent with; only Ann's files.
    assert [(f["url"], f["original_name"], f["kind"], f["size"]) for f in data["files.json"]
            ] == [(w["avatar"], "me.png", "image", len(png(3, 3)))]
    assert files[f"uploads/{avatar_name}"] == (settings.data_dir / "media" /
                                              avatar_name).read_bytes()

    everything = b"\n".join(files.values())
    for private in (b"bob.private@", b"carl.private@", b"dora.private@", b"eve.private@",
                    b"bob whispers to carl only", b"Bob's friends-only title",
                    b"bob friends words", b"ann deleted this for herself", b"Dora",
                    b"bob-secret-name"):
        assert private not in everything, private
    assert d not in people and all(d != x["user_id"] for rows in social.values()
                                   for x in rows)


async def test_the_owner_is_told_by_a_notification_and_a_mail_with_the_link(
        client, services, settings):
    ann = await sign_up(client, email="ann.told@example.com")
    export = await ready_export(client, services, ann)
    r = await client.get("/api/v1/notifications", headers=bearer(ann))
    [told] = r.json()["items"]
    assert "export is ready" in told["text"]
    [(to, body)] = await mails_when(settings.data_dir / "outbox", 1)
    assert to == "ann.told@example.com"
    assert f"/api/v1/user/exports/{export['id']}/archive" in body


async def test_only_the_owner_can_download_an_export(client, services):
    ann, bob = await sign_up(client), await sign_up(client)
    export = await ready_export(client, services, ann)
    r = await download(client, bob, export)
    assert r.status_code == 404 and r.json()["error"]["code"] == "export_not_found"
    r = await client.get(export["download_url"])
    assert r.status_code == 401
    r = await client.get("/api/v1/user/exports", headers=bearer(bob))
    assert r.json()["exports"] == []
    r = await client.get("/api/v1/user/exports/not-an-id/archive", headers=bearer(ann))
    assert r.status_code == 404 and r.json()["error"]["code"] == "export_not_found"


async def test_an_expired_export_is_refused_and_its_archive_deleted(client, services, settings):
    ann = await sign_up(client)
    export = await ready_export(client, services, ann)
    assert (await download(client, ann, export)).status_code == 200
    await services.pool.execute(
        "UPDATE exports SET expires_at = now() - interval '1 minute' WHERE id = $1::uuid",
        export["id"])
    r = await download(client, ann, export)
    assert r.status_code == 404 and r.json()["error"]["code"] == "export_expired"
    assert await services.exports.purge() == 1
    assert list((settings.data_dir / "exports").glob("*.zip")) == []
    r = await client.get("/api/v1/user/exports", headers=bearer(ann))
    assert r.json()["exports"][0]["state"] == "expired"


async def test_a_deleted_accounts_archives_are_swept(client, services, settings):
    ann = await sign_up(client)
    await ready_export(client, services, ann)
    assert len(list((settings.data_dir / "exports").glob("*.zip"))) == 1
    r = await client.request("DELETE", "/api/v1/user/me", headers=bearer(ann),
                             json={"password": "correct horse battery"})
    assert r.status_code == 204
    assert await services.exports.purge() == 1
    assert list((settings.data_dir / "exports").glob("*.zip")) == []


async def test_requests_are_limited_and_one_waiting_is_not_asked_twice(client, services):
    ann = await sign_up(client)
    first = (await client.post("/api/v1/user/exports", headers=bearer(ann))).json()
    again = (await client.post("/api/v1/user/exports", headers=bearer(ann))).json()
    assert again["id"] == first["id"]
    await services.exports.build_next()
    await ready_export(client, services, ann)
    await ready_export(client, services, ann)
    r = await client.post("/api/v1/user/exports", headers=bearer(ann))
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert int(r.headers["retry-after"]) > 3600


async def test_an_export_asked_for_before_a_restart_is_built_after_it(
        client, services, settings):
    ann = await sign_up(client)
    r = await client.post("/api/v1/user/exports", headers=bearer(ann))
    asked = r.json()
    # A new process: new services on the same stores, nothing in memory from the old one.
    restarted = build_services(settings, services.pool, services.mongo, secret="t" * 48)
    built = await restarted.exports.build_next()
    assert built is not None and built.id == asked["id"]
    r = await client.get(f"/api/v1/user/exports/{asked['id']}/archive", headers=bearer(ann))
    assert r.status_code == 200
    assert json.loads(unzip(r.content)["profile.json"])["id"] == ann["user"]["id"]


async def test_the_worker_builds_a_request_at_once_without_being_asked(client, services):
    services.start_export_worker()  # as open_services does at start
    ann = await sign_up(client)
    r = await client.post("/api/v1/user/exports", headers=bearer(ann))
    export_id = r.json()["id"]
    # The request wakes the worker: ready well before its one-minute round.
    for _ in range(500):
        r = await client.get("/api/v1/user/exports", headers=bearer(ann))
        if r.json()["exports"][0]["state"] == "ready":
            break
        await asyncio.sleep(0.02)
    assert r.json()["exports"][0] == {**r.json()["exports"][0], "id": export_id,
                                      "state": "ready"}
