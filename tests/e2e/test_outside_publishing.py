"""Issue 19's publishing features checked from outside, from the docs alone (README,
docs/blogs.md, docs/media.md, docs/social.md, docs/protocol.md and the served /openapi.json).

The server is `python run.py` as the README starts it, configured only by its documented
environment variables, on a fresh database of the test session's PostgreSQL and MongoDB-wire
servers. Every check is a documented HTTP or WebSocket request; nothing here imports Nirvana
or the test helpers. Every JSON answer of `/api/` is also checked against /openapi.json: its
status must be documented, and its body hold every required field, with its documented type,
and no undocumented one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import secrets
import select
import signal
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, AsyncIterator
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
import websockets

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 60
PASSWORD = "correct horse battery"
MAX_FILE_BYTES = 60_000
QUOTA_BYTES = 400_000

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
                       "hQGAhKmMIQAAAABJRU5ErkJggg==")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
HTML = b"<!doctype html><html><script>alert(1)</script></html>"
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00\x00\x00\x08free" + bytes(64)


# ---- the server, as the README runs it ------------------------------------------------------

class Server:
    """`python run.py` with the given data directory and settings; `url` once it is ready."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.data_dir, self.env = data_dir, env
        self.log = data_dir.parent / "run.log"  # its stderr, for a failure's message
        self.start()

    def start(self) -> None:
        keep = {k: v for k, v in os.environ.items()
                if k not in {"DATABASE_URL", "MONGODB_URL", "JWT_SECRET", "PORT", "HOST"}}
        self.err = self.log.open("a")
        self.proc = subprocess.Popen(
            [sys.executable, "run.py"], cwd=ROOT, text=True,
            stdout=subprocess.PIPE, stderr=self.err,
            env={**keep, "DATA_DIR": str(self.data_dir), "PORT": "0", "LOG_LEVEL": "WARNING",
                 **self.env})
        if not select.select([self.proc.stdout], [], [], START_SECONDS)[0]:
            self.kill()
            raise AssertionError(f"run.py printed nothing in {START_SECONDS} s: "
                                 f"{self.log.read_text()[-2000:]}")
        line = self.proc.stdout.readline()
        match = re.search(r"listening on (http://[\d.]+:\d+)", line)
        if match is None:
            self.kill()
            raise AssertionError(f"run.py did not say where it listens: {line!r} "
                                 f"{self.log.read_text()[-2000:]}")
        self.url = match.group(1)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise AssertionError("/ready never answered 200")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)  # Ctrl-C, as the README stops it
        try:
            self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self.err.close()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.communicate()
        self.err.close()


@pytest.fixture
def fresh_databases(server_urls, tmp_path):
    """A new, empty PostgreSQL database and MongoDB database on the session's servers."""
    database_url, mongodb_url = server_urls
    name = f"outside_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    parts = urlsplit(database_url)
    env = {"DATABASE_URL": urlunsplit(parts._replace(path="/" + name)),
           "MONGODB_URL": mongodb_url, "MONGODB_DB": name,
           # Documented settings: this check signs many people up from one address and writes
           # more than a person would; small upload limits make the limits reachable.
           "SIGNUPS_PER_IP_HOUR": "1000", "WRITES_PER_MINUTE": "10000",
           "MAX_FILE_BYTES": str(MAX_FILE_BYTES), "STORAGE_QUOTA_BYTES": str(QUOTA_BYTES)}
    data_dir = tmp_path / "var"
    yield data_dir, env
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# ---- /openapi.json as the contract of every answer ------------------------------------------

class Contract:
    TYPES = {"object": dict, "array": list, "string": str, "boolean": bool,
             "null": type(None)}

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        routes = []
        for path, ops in spec["paths"].items():
            pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$"
            routes.append((path.count("{"), re.compile(pattern), path, ops))
        self.routes = sorted(routes, key=lambda r: r[0])  # literal paths before templates
        self.broken: list[str] = []

    def _resolve(self, schema: dict) -> dict:
        while "$ref" in schema:
            schema = self.spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        return schema

    def errors(self, schema: dict, value: Any, where: str) -> list[str]:
        schema = self._resolve(schema)
        branches = schema.get("anyOf") or schema.get("oneOf")
        if branches:
            found = [self.errors(b, value, where) for b in branches]
            return [] if any(not f for f in found) else min(found, key=len)
        out: list[str] = []
        if "const" in schema and value != schema["const"]:
            out.append(f"{where}: {value!r} is not {schema['const']!r}")
        if "enum" in schema and value not in schema["enum"]:
            out.append(f"{where}: {value!r} not in {schema['enum']}")
        typ = schema.get("type")
        if typ is not None:
            types = typ if isinstance(typ, list) else [typ]
            is_int = isinstance(value, int) and not isinstance(value, bool)
            if not any(is_int if t == "integer" else
                       (is_int or isinstance(value, float)) if t == "number" else
                       isinstance(value, self.TYPES[t]) for t in types):
                return out + [f"{where}: {value!r:.60} is not {typ}"]
        if isinstance(value, dict):
            props = schema.get("properties", {})
            out += [f"{where}: required {k!r} missing"
                    for k in schema.get("required", []) if k not in value]
            extra = schema.get("additionalProperties")
            for key, item in value.items():
                if key in props:
                    out += self.errors(props[key], item, f"{where}.{key}")
                elif isinstance(extra, dict):
                    out += self.errors(extra, item, f"{where}.{key}")
                elif props and extra is not True:
                    out.append(f"{where}: undocumented field {key!r}")
        if isinstance(value, list) and "items" in schema:
            for i, item in enumerate(value[:10]):
                out += self.errors(schema["items"], item, f"{where}[{i}]")
        return out

    def check(self, response: httpx.Response) -> None:
        path, method = response.request.url.path, response.request.method.lower()
        if not path.startswith("/api/"):
            return
        for _, pattern, template, ops in self.routes:
            if pattern.match(path) and method in ops:
                break
        else:
            self.broken.append(f"{method.upper()} {path}: not in /openapi.json")
            return
        where = f"{method.upper()} {template} -> {response.status_code}"
        documented = ops[method]["responses"].get(str(response.status_code))
        if documented is None:
            self.broken.append(f"{where}: status not documented")
            return
        if response.headers.get("content-type", "").startswith("application/json"):
            schema = documented.get("content", {}).get("application/json", {}).get("schema")
            if schema is None:
                self.broken.append(f"{where}: JSON answered, none documented")
            else:
                self.broken += [f"{where}: {e}"
                                for e in self.errors(schema, response.json(), "body")]


# ---- a client that knows only the docs --------------------------------------------------------

class Person:
    def __init__(self, name: str, jwt: str, id: int, username: str) -> None:
        self.name, self.jwt, self.id, self.username = name, jwt, id, username

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.jwt}"}

    @property
    def cookie(self) -> dict[str, str]:  # how the web pages know their reader
        return {"Cookie": f"jwt={self.jwt}"}


class Client:
    def __init__(self, base: str, http: httpx.AsyncClient, contract: Contract) -> None:
        self.base, self.http, self.contract = base, http, contract

    async def api(self, method: str, url: str, who: Person | None = None,
                  **kw: Any) -> httpx.Response:
        headers = {**kw.pop("headers", {}), **(who.auth if who else {})}
        r = await self.http.request(method, url, headers=headers, **kw)
        self.http.cookies.clear()  # who reads is only what each request carries
        self.contract.check(r)
        return r

    async def page(self, url: str, who: Person | None = None, **kw: Any) -> httpx.Response:
        r = await self.http.get(url, headers=who.cookie if who else {}, **kw)
        self.http.cookies.clear()
        return r

    async def person(self, name: str) -> Person:
        email = f"{name.lower().replace(' ', '.')}-{uuid.uuid4().hex[:8]}@example.com"
        r = await self.api("POST", "/api/v1/user/signup",
                           json={"email": email, "password": PASSWORD, "name": name})
        assert r.status_code == 201, r.text
        r = await self.api("POST", "/api/v1/user/signin",
                           json={"email": email, "password": PASSWORD})
        jwt = r.json()["jwt"]
        me = (await self.api("GET", "/api/v1/user/me",
                             headers={"Authorization": f"Bearer {jwt}"})).json()
        return Person(name, jwt, me["id"], me["username"])

    async def blog(self, who: Person, **fields: Any) -> dict:
        r = await self.api("POST", "/api/v1/blog", who, json={"body": "Words.", **fields})
        assert r.status_code == 201, r.text
        return r.json()

    async def socket(self, who: Person):
        # Unbounded: a socket the test stops reading (a follower's notifications) would
        # otherwise stop reading at 16 frames and miss the server's close frame, and its
        # close would wait out close_timeout (10 s).
        return await websockets.connect(
            self.base.replace("http", "ws", 1) + "/ws?token=" + who.jwt, max_queue=None)


def refused(r: httpx.Response, status: int, code: str, field: str | None = None,
            detail: str | None = None) -> None:
    """The one documented error shape: {"error": {"code", "message", "details"?}}."""
    assert r.status_code == status, (r.request.url, r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error"} and isinstance(body["error"]["message"], str), body
    assert body["error"]["code"] == code, body
    if field is not None:
        details = {(d["field"], d["code"]) for d in body["error"]["details"]}
        assert any(f == field and (detail is None or c == detail) for f, c in details), body


async def frames_until(ws, done, seconds: float = 10.0) -> list[dict]:
    """Frames received until `done(frames)` holds; fails naming what it waited for."""
    frames: list[dict] = []
    deadline = time.monotonic() + seconds
    while not done(frames):
        left = deadline - time.monotonic()
        assert left > 0, f"waited {seconds} s, got {[f['type'] for f in frames]}"
        try:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), left)))
        except asyncio.TimeoutError:
            pass
    return frames


async def quiet(ws, seconds: float = 0.3) -> list[dict]:
    """What arrives within a short pause: for 'nothing more came'."""
    frames = []
    while True:
        try:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), seconds)))
        except asyncio.TimeoutError:
            return frames


async def poll(what: str, probe, seconds: float = 20.0):
    """Polls `probe()` until it returns something truthy, with a deadline."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := await probe():
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: not within {seconds} s")


def soon(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()


def ids(r: httpx.Response) -> set[int]:
    assert r.status_code == 200, r.text
    return {b["id"] for b in r.json()["blogs"]}


def xml_text(r: httpx.Response) -> str:
    assert r.status_code == 200, (r.request.url, r.status_code)
    ET.fromstring(r.content)  # well-formed
    return r.text


@contextlib.asynccontextmanager
async def connected(base: str) -> AsyncIterator[Client]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        yield Client(base, http, Contract((await http.get("/openapi.json")).json()))


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


async def test_a_post_due_while_the_server_is_down_is_published_once_at_the_next_start(
        fresh_databases):
    data_dir, env = fresh_databases
    server = Server(data_dir, env)
    try:
        async with connected(server.url) as c:
            ann, reader = await c.person("Ann"), await c.person("Flo")
            await c.api("POST", f"/api/v1/follows/{ann.id}", reader)
        # The post must fall due while the server is down: if stopping took longer than the
        # margin (a busy machine), try again with a larger one.
        for margin in (5, 15, 45):
            async with connected(server.url) as c:
                due = datetime.now(timezone.utc) + timedelta(seconds=margin)
                blog = await c.blog(ann, title="While you slept", status="scheduled",
                                    published_at=due.isoformat())
            server.stop()
            if datetime.now(timezone.utc) < due:
                break
            server.start()
        else:
            pytest.fail("the server never stopped within 45 s of a post's scheduling")
        while datetime.now(timezone.utc) < due:  # down when it falls due
            await asyncio.sleep(0.05)
        server.start()
        async with connected(server.url) as c:
            async def published():
                r = await c.api("GET", f"/api/v1/blog/{blog['id']}", reader)
                return r.json() if r.status_code == 200 else None

            shown = await poll("published at the next start", published)
            assert shown["published_at"] == blog["published_at"]

            # Announced after the publication commits (docs/blogs.md), so the blog can be
            # seen a moment before its followers are told.
            async def told():
                r = await c.api("GET", "/api/v1/notifications", reader)
                items = [n for n in r.json()["items"] if n["blog_id"] == blog["id"]]
                return items or None

            assert len(await poll("the follower told of the post", told)) == 1
            assert c.contract.broken == [], "\n".join(c.contract.broken)
    finally:
        server.stop()
