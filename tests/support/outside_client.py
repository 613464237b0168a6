"""A client of Nirvana that knows only its docs (README, docs/*.md and the served
/openapi.json), for the outside-in checks: `python run.py` started as the README starts it,
/openapi.json as the contract every JSON answer of `/api/` is checked against (its status
documented, every required field there with its documented type, no undocumented one), and
the HTTP and WebSocket requests a third-party client makes. Nothing here imports Nirvana or
the test helpers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import re
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
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
import websockets

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 60
PASSWORD = "correct horse battery"
# Small upload limits (documented settings) make the limits reachable.
MAX_FILE_BYTES = 60_000
QUOTA_BYTES = 400_000


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
