"""Issue 19's publishing features checked from outside, from the docs alone (README,
docs/blogs.md, docs/media.md, docs/social.md, docs/protocol.md and the served /openapi.json).

The server is `python run.py` as the README starts it, configured only by its documented
environment variables, on a fresh database of the test session's PostgreSQL and MongoDB-wire
servers. Every check is a documented HTTP or WebSocket request, made by the client of
tests/support/outside_client.py, which knows only the docs; nothing here imports Nirvana.
Every JSON answer of `/api/` is also checked against /openapi.json: its status must be
documented, and its body hold every required field, with its documented type, and no
undocumented one.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import quote, urlsplit

import pytest

from tests.support.outside_client import (MAX_FILE_BYTES, QUOTA_BYTES, Client, Contract,
                                          Person, Server, connected, frames_until, ids, poll,
                                          quiet, refused, soon, xml_text)
from tests.support.outside_client import fresh_databases  # noqa: F401 (fixture)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
                       "hQGAhKmMIQAAAABJRU5ErkJggg==")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
HTML = b"<!doctype html><html><script>alert(1)</script></html>"
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00\x00\x00\x08free" + bytes(64)


# ---- the checks -----------------------------------------------------------------------------

AUDIENCES = ("public", "followers", "friends")
READS = {  # reader -> the audiences of the author's blogs they may read
    "author": set(AUDIENCES), "friend": set(AUDIENCES), "follower": {"public", "followers"},
    "stranger": {"public"}, "anonymous": {"public"}, "blocked": set(), "blocker": set(),
}


async def check_audiences(c: Client) -> dict:
    people = {n: await c.person(n.title()) for n in READS if n != "anonymous"}
    ann = people["author"]
    await c.api("POST", f"/api/v1/friends/requests/{people['friend'].id}", ann)
    r = await c.api("POST", f"/api/v1/friends/requests/{ann.id}/accept", people["friend"])
    assert r.status_code == 201, r.text
    assert (await c.api("POST", f"/api/v1/follows/{ann.id}", people["follower"])).is_success
    assert (await c.api("POST", f"/api/v1/follows/{ann.id}", people["blocked"])).is_success
    assert (await c.api("POST", f"/api/v1/blocks/{people['blocked'].id}", ann)).is_success
    assert (await c.api("POST", f"/api/v1/blocks/{ann.id}", people["blocker"])).is_success
    readers = {**people, "anonymous": None}

    sockets = {n: await c.socket(p) for n, p in people.items()}
    word, tag = f"w{uuid.uuid4().hex[:8]}", f"t{uuid.uuid4().hex[:8]}"
    blogs = {a: await c.blog(ann, title=f"{a} {word}", body=f"{a} {word}", tags=[tag],
                             audience=a) for a in AUDIENCES}
    by_id = {b["id"]: a for a, b in blogs.items()}

    def seen(found: set[int]) -> set[str]:
        return {by_id[i] for i in found if i in by_id}

    for name, reader in readers.items():
        want = READS[name]
        lists = {
            "feed": "/api/v1/feed?limit=100", "bulk": "/api/v1/blog/bulk",
            "paginated_bulk": "/api/v1/blog/paginated_bulk?limit=100",
            "search": f"/api/v1/blog/search?q={word}",
            "tag search": f"/api/v1/blog/search?tag={tag}",
            "author search": f"/api/v1/blog/search?author={ann.id}",
        }
        for path, url in lists.items():
            assert seen(ids(await c.api("GET", url, reader))) == want, (name, path)
        if reader is not None:
            r = await c.api("GET", "/api/v1/feed?following=true&limit=100", reader)
            following = want if name in ("friend", "follower") else set()
            assert seen(ids(r)) == following, (name, "following feed")
        for audience, blog in blogs.items():
            shown = 200 if audience in want else 404
            where = (name, audience)
            for url in (f"/api/v1/blog/{blog['id']}", f"/api/v1/blog/slug/{blog['slug']}",
                        f"/api/v1/blog/{blog['id']}/comments",
                        f"/api/v1/blog/{blog['id']}/reactions"):
                assert (await c.api("GET", url, reader)).status_code == shown, (where, url)
            page = await c.page(f"/blogs/{blog['slug']}", reader)
            assert page.status_code == shown, (where, "blog page")
            if reader is not None and name != "author":
                r = await c.api("POST", f"/api/v1/blog/{blog['id']}/like", reader)
                assert r.status_code == shown, (where, "like", r.text)
                r = await c.api("PUT", f"/api/v1/blog/{blog['id']}/reaction", reader,
                                json={"kind": "wow"})
                assert r.status_code == shown, (where, "reaction", r.text)
                r = await c.api("POST", f"/api/v1/blog/{blog['id']}/comments", reader,
                                json={"body": f"from {name}"})
                assert r.status_code == (201 if shown == 200 else 404), (where, "comment")
        for url in (f"/people/{ann.id}", f"/tags/{tag}", f"/search?q={word}", "/"):
            text = (await c.page(url, reader)).text
            assert {a for a, b in blogs.items() if b["title"] in text} == want, (name, url)
        r = await c.api("GET", f"/api/v1/users/{ann.id}", reader)
        if name == "blocked":  # the author blocked them: no profile at all
            refused(r, 404, "user_not_found")
        else:
            assert r.json()["counts"]["blogs"] == len(want), (name, r.json()["counts"])

    # Feeds for readers and the sitemap: public blogs only, whoever asks.
    for url in ("/feed.xml", "/atom.xml", f"/people/{ann.id}/feed.xml",
                f"/people/{ann.id}/atom.xml", f"/tags/{tag}/feed.xml", f"/tags/{tag}/atom.xml"):
        for reader in (None, ann):
            text = xml_text(await c.page(url, reader))
            assert {a for a, b in blogs.items() if b["title"] in text} == {"public"}, url
    index = ET.fromstring((await c.page("/sitemap.xml", ann)).content)
    parts = "".join([xml_text(await c.page(urlsplit(loc.text).path, ann))
                     for loc in index.iter() if loc.tag.endswith("}loc")])
    assert {a for a, b in blogs.items() if f"/blogs/{b['slug']}<" in parts} == {"public"}
    tags = {t["tag"]: t["count"] for t in
            (await c.api("GET", "/api/v1/tags?limit=1000")).json()["tags"]}
    assert tags[tag] == 1  # the public blog only

    # Live: friends hear of every audience, followers of public and followers-only blogs,
    # in frames as the served frame schema describes them.
    frame_schema = (await c.http.get("/api/v1/ws/schema")).json()
    frames_spec = Contract({"paths": {}, "components": {"schemas": frame_schema["$defs"]}})
    published = frame_schema["properties"]["server_event"]["discriminator"]["mapping"][
        "blog.published"]
    for name, ws in sockets.items():
        frames = [f for f in await quiet(ws) if f["type"] == "blog.published"]
        heard = {by_id[f["blog"]["id"]] for f in frames}
        want = set(AUDIENCES) if name == "friend" else (
            {"public", "followers"} if name == "follower" else set())
        assert heard == want, (name, heard)
        for f in frames:
            assert frames_spec.errors({"$ref": published}, f, "frame") == []
            assert f["blog"]["slug"] == blogs[by_id[f["blog"]["id"]]]["slug"]
            assert f["blog"]["author"]["id"] == ann.id
    r = await c.api("GET", "/api/v1/notifications", people["follower"])
    told = {by_id[n["blog_id"]] for n in r.json()["items"] if n["kind"] == "new_blog"}
    assert told == {"public", "followers"}
    return {"people": people, "sockets": sockets, "blogs": blogs}


async def check_slugs(c: Client, ann: Person) -> None:
    for title, slug in {"Crème brûlée à Zürich": "creme-brulee-a-zurich",
                        "Straße": "strasse", "Привет, мир!": "привет-мир",
                        "東京の夏": "東京の夏", "2024": "post-2024", "!!!": "post"}.items():
        blog = await c.blog(ann, title=title)
        assert re.fullmatch(re.escape(slug) + r"(-\d+)?", blog["slug"]), (title, blog["slug"])
        r = await c.api("GET", f"/api/v1/blog/slug/{quote(blog['slug'])}")
        assert r.status_code == 200 and r.json()["id"] == blog["id"], title
        assert (await c.page(f"/blogs/{quote(blog['slug'])}")).status_code == 200, title
    title = f"Hello world {uuid.uuid4().hex[:6]}"
    first, second = await c.blog(ann, title=title), await c.blog(ann, title=title)
    assert second["slug"] == first["slug"] + "-2"
    r = await c.api("PUT", f"/api/v1/blog/{first['id']}", ann,
                    json={"title": "Привет снова", "updated_at": first["updated_at"]})
    renamed = r.json()
    assert renamed["slug"].startswith("привет-снова")
    r = await c.api("GET", f"/api/v1/blog/slug/{first['slug']}")  # the old slug: 200, current
    assert r.status_code == 200 and r.json()["slug"] == renamed["slug"]
    new_path = f"/blogs/{quote(renamed['slug'])}"
    for old in (f"/blogs/{first['slug']}", f"/blogs/{first['id']}"):
        page = await c.page(old)
        assert page.status_code == 301 and page.headers["location"] == new_path, old
    # A replayed edit (the same updated_at again) changes nothing.
    r = await c.api("PUT", f"/api/v1/blog/{first['id']}", ann,
                    json={"title": "Again", "updated_at": first["updated_at"]})
    refused(r, 409, "stale_update")
    page = (await c.page(new_path)).text
    url = f"{c.base}{new_path}"
    assert f'<link rel="canonical" href="{url}">' in page
    assert f'<meta property="og:url" content="{url}">' in page
    assert '<meta property="og:type" content="article">' in page


async def check_scheduling(c: Client, world: dict) -> None:
    ann, friend, follower = (world["people"][n] for n in ("author", "friend", "follower"))
    for fields, code in (({"published_at": soon(-60)}, "not_in_future"), ({}, "required"),
                         ({"published_at": "1893456000"}, "datetime_parsing")):
        r = await c.api("POST", "/api/v1/blog", ann,
                        json={"title": "T", "body": "B", "status": "scheduled", **fields})
        refused(r, 422, "validation_error", "published_at", code)
    r = await c.api("POST", "/api/v1/blog", ann,
                    json={"title": "T", "body": "B", "published_at": soon(60)})
    refused(r, 422, "validation_error", "published_at", "not_scheduled")
    word = f"s{uuid.uuid4().hex[:8]}"
    due = soon(3)
    blog = await c.blog(ann, title=f"Later {word}", tags=[word], status="scheduled",
                        published_at=due)
    assert blog["status"] == "scheduled"
    hidden = [f"/api/v1/blog/{blog['id']}", f"/api/v1/blog/slug/{blog['slug']}"]
    for url in hidden:
        assert (await c.api("GET", url, friend)).status_code == 404
    assert (await c.api("GET", hidden[0], ann)).status_code == 200
    assert blog["id"] not in ids(await c.api("GET", f"/api/v1/blog/search?q={word}", friend))
    assert word not in (await c.api("GET", "/api/v1/tags?limit=1000")).text
    assert word not in xml_text(await c.page("/feed.xml"))

    async def published():
        r = await c.api("GET", hidden[0], friend)
        return r.json() if r.status_code == 200 else None

    shown = await poll("the scheduled blog published", published)
    assert shown["status"] == "published" and shown["published_at"] == blog["published_at"]
    assert blog["id"] in ids(await c.api("GET", f"/api/v1/blog/search?q={word}"))
    ws = world["sockets"]["friend"]
    await frames_until(ws, lambda fs: any(
        f["type"] == "blog.published" and f["blog"]["id"] == blog["id"] for f in fs))
    assert all(f.get("blog", {}).get("id") != blog["id"] for f in await quiet(ws))  # once
    r = await c.api("GET", "/api/v1/notifications", follower)
    assert [n["blog_id"] for n in r.json()["items"]].count(blog["id"]) == 1


async def check_reactions(c: Client, world: dict) -> None:
    ann = world["people"]["author"]
    readers = [await c.person(f"Reader {i}") for i in range(3)]
    blog = await c.blog(ann, title="React to me")
    url = f"/api/v1/blog/{blog['id']}"
    one = readers[0]
    r = await c.api("PUT", f"{url}/reaction", one, json={"kind": "love"})
    assert r.json()["my_reaction"] == "love" and r.json()["reactions"]["love"] == 1
    r = await c.api("POST", f"{url}/like", one)  # the like route sets the `like` reaction
    assert r.json() == {"liked": True, "likes_count": 1}
    r = await c.api("GET", url, one)
    assert r.json()["my_reaction"] == "like" and r.json()["reactions"]["love"] == 0
    await c.api("PUT", f"{url}/reaction", one, json={"kind": "love"})
    r = await c.api("DELETE", f"{url}/like", one)  # takes back a like only
    assert r.json() == {"liked": False, "likes_count": 0}
    assert (await c.api("GET", url, one)).json()["my_reaction"] == "love"
    for bad in ({"kind": "hug"}, {"kind": 1}, {}, {"kind": "like", "extra": 1}):
        refused(await c.api("PUT", f"{url}/reaction", one, json=bad), 422, "validation_error")
    refused(await c.api("PUT", f"{url}/reaction", one, content=b'{"kind": "lo',
                        headers={"content-type": "application/json"}), 400, "malformed_json")
    refused(await c.api("PUT", f"{url}/reaction", json={"kind": "love"}), 401,
            "unauthenticated")
    # Concurrent changes of kind: one reaction per user, counts exact.
    await asyncio.gather(*[c.api("PUT", f"{url}/reaction", p, json={"kind": k})
                           for p in readers for k in ("haha", "sad", "angry")])
    r = await c.api("GET", url)
    assert sum(r.json()["reactions"].values()) == 3
    listed = await c.api("GET", f"{url}/reactions?limit=100")
    assert sorted(x["user"]["id"] for x in listed.json()["reactions"]) == \
        sorted(p.id for p in readers)
    assert listed.json()["counts"] == r.json()["reactions"]
    refused(await c.api("GET", f"{url}/reactions?kind=hug"), 422, "validation_error")
    for twice in range(2):  # taking it back is idempotent
        r = await c.api("DELETE", f"{url}/reaction", one)
        assert r.status_code == 200 and r.json()["my_reaction"] is None


async def check_tags_with_a_slash(c: Client, ann: Person) -> None:
    await c.blog(ann, title="Pipelines", tags=["CI/CD"])
    assert '<a href="/tags/ci/cd">' in (await c.page("/tags")).text
    for url in ("/tags/ci/cd", "/tags/ci%2Fcd"):
        assert "Pipelines" in (await c.page(url)).text, url
        assert "Pipelines" in xml_text(await c.page(url + "/feed.xml")), url


async def check_uploads(c: Client, world: dict) -> None:
    ann, stranger = await c.person("Uma"), world["people"]["stranger"]

    async def upload(who, data, name, ctype="application/octet-stream", kind=""):
        return await c.api("POST", "/api/v1/media/upload" + (f"?kind={kind}" if kind else ""),
                           who, files={"file": (name, data, ctype)})

    image = (await upload(ann, PNG, "photo.jpg", "image/jpeg")).json()
    assert (image["kind"], image["mime"], image["size"]) == ("image", "image/png", len(PNG))
    pdf = (await upload(ann, PDF, "photo.png", "image/png")).json()  # the bytes decide
    assert (pdf["kind"], pdf["mime"]) == ("file", "application/pdf")
    page = (await upload(ann, HTML, "cat.jpg", "image/jpeg")).json()
    assert page["url"].endswith(".bin") and page["mime"] == "application/octet-stream"
    video = await upload(ann, MP4, "clip.txt", "text/plain", kind="video")
    assert video.status_code == 201 and video.json()["kind"] == "video"
    refused(await upload(ann, PNG, "a.mp4", "video/mp4", kind="video"), 415, "not_video")
    refused(await upload(ann, PDF, "a.png", kind="image"), 415, "not_an_image")
    refused(await upload(ann, PNG, "a.png", kind="movie"), 422, "validation_error", "kind")
    refused(await upload(ann, PDF + bytes(MAX_FILE_BYTES), "big.pdf"), 413,
            "payload_too_large")
    refused(await c.api("POST", "/api/v1/media/upload", ann, files={"other": ("a", b"x")}),
            422, "validation_error")
    refused(await c.api("POST", "/api/v1/media/upload", files={"file": ("a.png", PNG)}), 401,
            "unauthenticated")

    for item, download in ((image, False), (pdf, True), (page, True)):
        served = await c.page(item["url"])
        assert served.status_code == 200
        assert served.headers["x-content-type-options"] == "nosniff"
        assert served.headers["content-security-policy"] == "default-src 'none'; sandbox"
        assert served.headers.get("content-disposition", "").startswith("attachment") \
            == download, item
    saved = (await c.page(pdf["url"], params={"name": "page.html"})).headers
    assert 'filename="page.html.pdf"' in saved["content-disposition"]
    for evil in ("/media/../../etc/passwd", "/media/..%2F..%2Fetc%2Fpasswd"):
        served = await c.page(evil)
        assert served.status_code == 404 and "root:" not in served.text
    refused(await c.api("GET", image["url"], headers={"Range": "bytes=5-2"}), 400,
            "invalid_range")

    # The quota: on the usage route and your own profile only, and enforced.
    usage = (await c.api("GET", "/api/v1/media/usage", ann)).json()
    assert usage["quota_bytes"] == QUOTA_BYTES and usage["files"] == 4
    assert (await c.api("GET", f"/api/v1/users/{ann.id}", ann)).json()["storage"] == usage
    for who in (stranger, None):
        assert (await c.api("GET", f"/api/v1/users/{ann.id}", who)).json()["storage"] is None
    last = None
    for i in range(QUOTA_BYTES // (MAX_FILE_BYTES - 10_000) + 2):
        last = await upload(ann, PDF + bytes([i]) * (MAX_FILE_BYTES - 10_000), f"f{i}.pdf")
        if last.status_code != 201:
            break
    refused(last, 413, "quota_exceeded")
    usage = (await c.api("GET", "/api/v1/media/usage", ann)).json()
    assert usage["used_bytes"] <= QUOTA_BYTES
    assert "Your uploads use" in (await c.page(f"/people/{ann.id}", ann)).text


async def check_chat_attachments(c: Client, world: dict) -> None:
    ann, friend, stranger = (world["people"][n] for n in ("author", "friend", "stranger"))

    async def upload(who):
        r = await c.api("POST", "/api/v1/media/upload", who, files={"file": ("a.png", PNG)})
        return r.json()["url"]

    own, friends, strangers = await upload(ann), await upload(friend), await upload(stranger)
    ws = world["sockets"]["author"]

    async def command(frame: dict) -> dict:
        await ws.send(json.dumps(frame))
        frames = await frames_until(ws, lambda fs: fs and fs[-1].get("id") == frame["id"])
        return frames[-1]

    conversation = (await command({"type": "open_direct", "id": "o1",
                                   "user_id": friend.id}))["conversation"]["id"]
    cases = {"/media/../../etc/passwd": "invalid_url", "/etc/passwd": "invalid_url",
             "javascript:alert(1)": "invalid_url",
             "/media/AAAAAAAAAAAAAAAAAAAAAAAA.png": "not_uploaded", strangers: "not_uploaded",
             own: None, friends: None, "https://cdn.example/a.png": None}
    for n, (url, code) in enumerate(cases.items()):
        attachment = {"url": url, "kind": "image", "name": "a.png", "size": len(PNG)}
        answer = await command({"type": "send", "id": f"s{n}", "conversation_id": conversation,
                                "client_id": str(uuid.uuid4()), "kind": "image",
                                "attachments": [attachment]})
        r = await c.api("POST", f"/api/v1/conversations/{conversation}/messages", ann,
                        json={"client_id": str(uuid.uuid4()), "kind": "image",
                              "attachments": [attachment]})
        if code is None:
            assert answer["type"] == "ack", answer
            assert r.status_code == 201, r.text
        else:
            assert answer["type"] == "error" and answer["code"] == "validation_error", answer
            assert {"field": "attachments.url", "code": code} in [
                {k: d[k] for k in ("field", "code")} for d in answer["details"]], answer
            refused(r, 422, "validation_error", "attachments.url", code)
    client_id = str(uuid.uuid4())  # a replayed send is acked once more, stored once
    sent = [await command({"type": "send", "id": f"r{n}", "conversation_id": conversation,
                           "client_id": client_id, "text": "once"}) for n in range(2)]
    assert [a["duplicate"] for a in sent] == [False, True]
    assert sent[0]["message"]["seq"] == sent[1]["message"]["seq"]


async def check_bad_blog_input(c: Client, ann: Person) -> None:
    for body, field in (({"body": "x"}, "title"), ({"title": 5, "body": "x"}, "title"),
                        ({"title": "x" * 201, "body": "x"}, "title"),
                        ({"title": "a\x00b", "body": "x"}, "title"),
                        ({"title": "\u200b\u3000", "body": "x"}, "title"),
                        ({"title": "t", "body": "x", "audience": "everyone"}, "audience"),
                        ({"title": "t", "body": "x", "tags": ["a" * 41]}, "tags"),
                        ({"title": "t", "body": "x", "unknown": 1}, "unknown"),
                        ({"title": "t", "body": "x", "header_image": "/media/../../etc/passwd"},
                         "header_image")):
        r = await c.api("POST", "/api/v1/blog", ann, json=body)
        refused(r, 422, "validation_error")
        fields = [d["field"] for d in r.json()["error"]["details"]]
        assert any(f.startswith(field) for f in fields), (body, fields)
    refused(await c.api("POST", "/api/v1/blog", ann, content=b"{not json",
                        headers={"content-type": "application/json"}), 400, "malformed_json")
    refused(await c.api("GET", "/api/v1/blog/slug/%FF"), 400, "invalid_path")
    refused(await c.api("GET", "/api/v1/blog/slug/a%00b"), 422, "validation_error", "slug",
            "invalid_character")
    refused(await c.api("GET", "/api/v1/tags?limit=0"), 422, "validation_error", "limit")
    refused(await c.api("GET", "/api/v1/feed?limit=5.0"), 422, "validation_error", "limit")


async def test_publishing_works_as_its_docs_say(fresh_databases):
    data_dir, env = fresh_databases
    server = Server(data_dir, env)
    try:
        async with connected(server.url) as c:
            world = await check_audiences(c)
            ann = world["people"]["author"]
            try:
                await check_slugs(c, ann)
                await check_scheduling(c, world)
                await check_reactions(c, world)
                await check_tags_with_a_slash(c, ann)
                await check_uploads(c, world)
                await check_chat_attachments(c, world)
                await check_bad_blog_input(c, ann)
            finally:
                for ws in world["sockets"].values():
                    await ws.close()
            assert c.contract.broken == [], "\n".join(c.contract.broken)
    finally:
        server.stop()
