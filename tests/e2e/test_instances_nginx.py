"""nginx, configured by deploy/nginx.conf, in front of two instances: clients that only know
nginx's address get HTTP and WebSockets spread over both, chat across them, and keep being
served when one instance stops."""

from __future__ import annotations

import asyncio
import re
import signal
import socket

import httpx
import orjson
import pytest
import websockets

from tests.support.chat_client import Client
from tests.support.frame_schema import served_frames
from tests.support.http import PASSWORD
from tests.support.instances import instances, shared_databases, ws_url  # noqa: F401 (fixtures)
from tests.support.nginx import Nginx, require_nginx
from tests.support.people import user
from tests.support.redis_server import redis_server  # noqa: F401 (fixture)
from tests.support.system import free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

METRICS_TOKEN = "metrics-token-for-the-nginx-test"


@pytest.fixture
async def nginx_in_front(instances):
    executable = require_nginx()
    runs = await instances.start(2, METRICS_TOKEN=METRICS_TOKEN,
                                 FORWARDED_ALLOW_IPS="127.0.0.1")
    proxy = await asyncio.to_thread(
        Nginx, executable, [r.url.removeprefix("http://") for r in runs])
    yield proxy, runs
    await asyncio.to_thread(proxy.close)


async def open_sockets(run) -> int:
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{run.url}/metrics",
                           headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    return int(float(re.search(r"^nirvana_websockets_open (\S+)$", r.text, re.M).group(1)))


async def test_two_instances_behind_nginx(nginx_in_front):
    proxy, (first, second) = nginx_in_front
    ws = proxy.url.replace("http://", "ws://") + "/ws"
    async with httpx.AsyncClient(base_url=proxy.url) as http:
        a, b = await user(http), await user(http)
        r = await http.post(f"/api/v1/friends/requests/{b['id']}",
                            headers={"Authorization": f"Bearer {a['jwt']}"})
        assert r.status_code in (200, 201), r.text
        r = await http.post(f"/api/v1/friends/requests/{a['id']}/accept",
                            headers={"Authorization": f"Bearer {b['jwt']}"})
        assert r.status_code in (200, 201, 204), r.text

        # Round robin, no stickiness: of two sockets through nginx, one lands on each.
        cb = await Client.connect(ws, b)
        ca = await Client.connect(ws, a)
        assert (await open_sockets(first), await open_sockets(second)) == (1, 1)

        # Presence and chat cross between the two, through the proxy's upgraded sockets.
        assert (await cb.expect("presence", user_id=a["id"]))["state"] == "online"
        cid = await ca.open_direct(b)
        for i in range(5):
            await ca.command("send", conversation_id=cid, client_id=str(i), text=f"m{i}")
        assert [(await cb.expect("newMessage"))["message"]["text"] for _ in range(5)] == \
            [f"m{i}" for i in range(5)]
        # An idle socket through nginx is kept by the server's pings, not cut by a timeout.
        assert (await cb.command("ping"))["type"] == "pong"

        # One instance stops: its socket closes with 1001, and the client that reconnects
        # through nginx is served by the other; so is every HTTP request.
        await asyncio.to_thread(first.stop, signal.SIGTERM)
        closes, pongs = [], 0
        for client in (ca, cb):
            try:
                pongs += (await client.command("ping", timeout=5))["type"] == "pong"
            except websockets.ConnectionClosed as closed:
                closes.append(closed.rcvd.code if closed.rcvd else None)
        assert (closes, pongs) == ([1001], 1)
        for _ in range(6):
            assert (await http.get("/ready")).status_code == 200
            r = await http.get("/api/v1/user/me", headers={"Authorization": f"Bearer {a['jwt']}"})
            assert r.status_code == 200
        # The stopped one ran the chat writer: until the other takes over (docs/cluster-chat.md)
        # a new socket is refused with 1013, and the client tries again later.
        again = None
        for _ in range(200):
            try:
                again = await Client.connect(ws, a)
                break
            except websockets.ConnectionClosed as refused:
                assert refused.rcvd is not None and refused.rcvd.code == 1013
                await asyncio.sleep(0.1)
        assert again is not None, "no instance took a socket within 20 s"
        assert (await again.command("ping"))["type"] == "pong"
        assert await open_sockets(second) >= 1
        await again.close()
        # The sockets' URLs carried their tokens; nginx's log (a line once a socket ends)
        # has their path only.
        await wait_until(lambda: '"GET /ws HTTP/1.1" 101' in proxy.access_log(),
                         "nginx to log a socket that ended")
        assert a["jwt"] not in proxy.access_log() and b["jwt"] not in proxy.access_log()


async def test_through_nginx_the_client_is_nginx_s_peer_and_urls_keep_the_public_port(
        instances):
    """The instance believes nginx's X-Forwarded-For (FORWARDED_ALLOW_IPS), so nginx must
    set it to its peer, not append to the client's: a client naming another address still
    has its own counted (here the session list's network; the per-IP limits read the same).
    And the Host passed on keeps the public port, which Nirvana's own redirects and CSP use,
    or is nginx's name when the client sent none."""
    (run,) = await instances.start(1, FORWARDED_ALLOW_IPS="127.0.0.1")
    proxy = await asyncio.to_thread(Nginx, require_nginx(), [run.url.removeprefix("http://")])
    try:
        async with httpx.AsyncClient(base_url=proxy.url) as http:
            forged = {"X-Forwarded-For": "203.0.113.7"}
            r = await http.post("/api/v1/user/signup", headers=forged, json={
                "email": "forger@example.com", "password": PASSWORD, "name": "Forger"})
            assert r.status_code == 201, r.text
            r = await http.get("/api/v1/user/sessions", headers={
                "Authorization": f"Bearer {r.json()['jwt']}", **forged})
            assert [s["ip"] for s in r.json()["sessions"]] == ["127.0.0.0/24"], r.text

            r = await http.get("/chat/")
            assert r.status_code == 307 and r.headers["location"] == f"{proxy.url}/chat"
            r = await http.get("/")
            assert f"connect-src 'self' ws://127.0.0.1:{proxy.port};" in \
                r.headers["content-security-policy"]
        # An HTTP/1.0 probe may send no Host: nginx passes its own name, not none.
        status, _, body = await asyncio.to_thread(
            _raw_answer, proxy.port, b"GET /health HTTP/1.0\r\n\r\n")
        assert status.split()[1] == "200", (status, body)
    finally:
        await asyncio.to_thread(proxy.close)


def _refused(run) -> bool:
    """Whether `run` stopped listening: a connect is refused, or reset when the listener
    closed with it queued."""
    host, port = run.url.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except (ConnectionRefusedError, ConnectionResetError):
        return True
    return False


async def test_a_stopping_instance_closes_nginx_s_kept_connections_so_a_reconnect_goes_elsewhere(
        nginx_in_front):
    """nginx keeps idle connections to each instance and sends an upgrade over one. Once
    an instance's stop begins, those are closed too: nginx's next pick of it connects anew,
    is refused, and goes to the other instance. Every socket opened through nginx during the
    stop gets a hello, none the stopping instance's 1001."""
    proxy, (writer, stopping) = nginx_in_front
    ws = proxy.url.replace("http://", "ws://") + "/ws"
    async with httpx.AsyncClient(base_url=proxy.url) as http:
        a = await user(http)
        await served_frames(ws)  # fetched once, before: every request below is an upgrade
        # A socket on the stopping instance: its stop closes it in the hook, after the
        # listener, which holds the stop there a moment.
        held = await Client.connect(ws_url(stopping), a)
        # Plain requests through nginx at once (round robin): each instance now has
        # idle connections in nginx's pool (uvicorn keeps one 5 s).
        answers = await asyncio.gather(*(http.get("/ready") for _ in range(8)))
        assert [r.status_code for r in answers] == [200] * 8
        stopping.proc.send_signal(signal.SIGTERM)
        await wait_until(lambda: _refused(stopping), "the stopping instance to stop listening",
                         interval=0.001)
        clients = []
        for _ in range(4):
            try:
                clients.append(await Client.connect(ws, a))
            except websockets.ConnectionClosed as closed:
                raise AssertionError(f"a socket through nginx got {closed.rcvd}") from None
        assert await open_sockets(writer) == len(clients)
        for client in clients:
            assert (await client.command("ping"))["type"] == "pong"
            await client.close()
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await held.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    _, err = await asyncio.to_thread(stopping.proc.communicate, timeout=60)
    assert stopping.proc.returncode == 0, err


def _raw_answer(port: int, request: bytes) -> tuple[str, dict[str, str], bytes]:
    """One request as bytes (a body too large need not be sent), and its answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
        head, _, body = answer.partition(b"\r\n\r\n")
        status, *fields = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (f.split(":", 1) for f in fields)}
        if "content-length" not in headers:  # to the connection's close
            while chunk := sock.recv(65536):
                body += chunk
        while len(body) < int(headers.get("content-length", 0)):
            body += sock.recv(65536)
    return status, headers, body


def _upgrade(path: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n").encode()


async def test_what_nginx_answers_itself_is_in_the_one_error_shape_and_no_token_is_logged():
    """With no instance listening, so every answer is nginx's own: a body over
    client_max_body_size (told by Content-Length, before any is sent) and no instance
    answering come in Nirvana's JSON error shape. No token reaches a log: not a WebSocket's
    or a mailed link's (the access log has their path; the error log, which names the
    request of a refused upstream connect, nothing of theirs), nor a page's URL in the
    Referer of the stylesheet it loads."""
    proxy = await asyncio.to_thread(Nginx, require_nginx(), [f"127.0.0.1:{free_port()}"])
    try:
        # Plain http redirects to https, with the path and query (port 80 in the
        # recipe, so the https URL names none).
        status, headers, _ = await asyncio.to_thread(_raw_answer, proxy.redirect_port, (
            b"POST /api/v1/user/signin?next=/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Length: 0\r\n\r\n"))
        assert status.split()[1] == "301", status
        assert headers["location"] == "https://127.0.0.1/api/v1/user/signin?next=/chat"
        # Except certbot's http-01 challenge, served from its directory.
        challenge = proxy.dir / "acme" / ".well-known" / "acme-challenge" / "tok3n"
        challenge.parent.mkdir(parents=True)
        challenge.write_text("tok3n.thumbprint")
        status, _, body = await asyncio.to_thread(_raw_answer, proxy.redirect_port, (
            b"GET /.well-known/acme-challenge/tok3n HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
        assert status.split()[1] == "200" and body == b"tok3n.thumbprint", (status, body)

        status, headers, body = await asyncio.to_thread(_raw_answer, proxy.port, (
            b"POST /api/v1/media HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
            b"Content-Length: 70000000\r\nConnection: close\r\n\r\n"))
        assert status.split()[1] == "413" and headers["content-type"] == "application/json"
        assert orjson.loads(body)["error"]["code"] == "payload_too_large", body
        assert headers["strict-transport-security"] == "max-age=31536000"

        status, headers, body = await asyncio.to_thread(
            _raw_answer, proxy.port, _upgrade("/ws?token=secret-access-token"))
        assert status.split()[1] == "503" and headers["content-type"] == "application/json"
        assert headers["retry-after"] == "5"
        assert headers["strict-transport-security"] == "max-age=31536000"
        assert orjson.loads(body)["error"]["code"] == "unavailable", body

        # A header or a URL up to Nirvana's own limit (16 KiB of headers) is passed on, not
        # refused by nginx in HTML.
        big = b"a" * 12000
        for request in (b"GET /api/v1/user/me HTTP/1.1\r\nHost: x\r\nX-Big: " + big + b"\r\n\r\n",
                        b"GET /" + big + b" HTTP/1.1\r\nHost: x\r\n\r\n"):
            status, headers, _ = await asyncio.to_thread(_raw_answer, proxy.port, request)
            assert status.split()[1] == "503", status
            assert headers["content-type"] == "application/json", headers

        for path in ("/reset-password?token=secret-reset-token",
                     "/verify-email?token=secret-verify-token",
                     "/unsubscribe?token=secret-unsubscribe-token"):
            status, _, _ = await asyncio.to_thread(_raw_answer, proxy.port, (
                f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").encode())
            assert status.split()[1] == "503", (path, status)
        status, _, _ = await asyncio.to_thread(_raw_answer, proxy.port, (
            b"GET /static/css/site.css HTTP/1.1\r\nHost: x\r\n"
            b"Referer: http://x/reset-password?token=secret-referred-token\r\n\r\n"))
        assert status.split()[1] == "503", status

        logged = await asyncio.to_thread(proxy.access_log)
        assert '"GET /ws HTTP/1.1" 503' in logged, logged
        assert '"GET /static/css/site.css HTTP/1.1" 503 ' in logged, logged
        assert '"http://x"' in logged, logged  # the Referer's origin
        assert "secret-" not in logged and "token=" not in logged, logged
        # The error log names the request of each refused connect, the stylesheet's too.
        # It names a Referer in full (nginx cannot cut it), which is why the pages with a
        # token in their URL send only their origin (tests/web/test_referrer_policy.py).
        errors = await asyncio.to_thread(proxy.error_log)
        assert '"GET /static/css/site.css HTTP/1.1"' in errors, errors
        for token in ("access", "reset", "verify", "unsubscribe"):
            assert f"secret-{token}-token" not in errors, errors
    finally:
        await asyncio.to_thread(proxy.close)


# What Chromium sends when it loads a page (a link, a reload, a form's submit).
BROWSER_PAGE = ("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
                "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7")
UNAVAILABLE = {"error": {"code": "unavailable", "message": (
    "No instance is answering; retry shortly (a POST may have been applied: see the API "
    "docs on Idempotency-Key).")}}


def _a_page_of_our_own(r: httpx.Response) -> str:
    """nginx's HTML page: self-contained (nothing to load from a server that is down) and
    never sending a form again by itself."""
    assert r.headers["content-type"].startswith("text/html"), (r.headers, r.text)
    assert r.headers["strict-transport-security"] == "max-age=31536000"
    page = r.text.lower()
    assert page.startswith("<!doctype html>") and "</html>" in page, page
    for loads in ("src=", "href=", "url(", "@import", "http-equiv", "<script"):
        assert loads not in page, (loads, page)
    return page


async def test_a_browser_loading_a_page_gets_nginx_s_page_every_other_request_the_json():
    """With no instance listening: a browser's page load (its Accept names text/html; a
    path outside /api/ and /ws), a GET or a form's POST, gets a short HTML page telling the
    user to reload; the API, the socket, the web client's own fetch() calls (which send
    `application/json` or fetch's default `*/*`), a stylesheet and a client sending no
    Accept all get Nirvana's JSON error as before. The 413 of a body over nginx's limit
    likewise."""
    proxy = await asyncio.to_thread(Nginx, require_nginx(), [f"127.0.0.1:{free_port()}"])
    try:
        async with httpx.AsyncClient(base_url=proxy.url) as http:
            for method, path, form in (("GET", "/", None), ("GET", "/chat?with=7", None),
                                       ("POST", "/write", {"title": "t", "body": "b"}),
                                       ("POST", "/blogs/7/comments", {"body": "c"})):
                r = await http.request(method, path, data=form,
                                       headers={"Accept": BROWSER_PAGE})
                assert r.status_code == 503, (method, path, r.status_code)
                assert r.headers["retry-after"] == "5", r.headers
                page = _a_page_of_our_own(r)
                assert "reload" in page and "not be saved twice" in page, page

            for path, accept in (("/api/v1/user/me", BROWSER_PAGE), ("/api", BROWSER_PAGE),
                                 ("/ws", BROWSER_PAGE), ("/", "application/json"),
                                 ("/write/preview", "*/*"),
                                 ("/static/css/site.css", "text/css,*/*;q=0.1")):
                for method in ("GET", "POST"):
                    r = await http.request(method, path, headers={"Accept": accept})
                    assert r.status_code == 503, (method, path, accept, r.status_code)
                    assert r.headers["content-type"] == "application/json", (path, accept)
                    assert r.headers["retry-after"] == "5"
                    assert r.json() == UNAVAILABLE, (path, accept, r.text)

        # A client sending no Accept at all.
        for request in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                        b"POST /write HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"):
            status, headers, body = await asyncio.to_thread(_raw_answer, proxy.port, request)
            assert status.split()[1] == "503", status
            assert headers["content-type"] == "application/json", headers
            assert orjson.loads(body) == UNAVAILABLE, body

        # A form's upload over client_max_body_size (told by Content-Length, before any is
        # sent): the page for a browser, the JSON for the API.
        too_large = ("POST {} HTTP/1.1\r\nHost: x\r\nAccept: {}\r\nContent-Type: "
                     "multipart/form-data; boundary=b\r\nContent-Length: 70000000\r\n"
                     "Connection: close\r\n\r\n")
        status, headers, body = await asyncio.to_thread(_raw_answer, proxy.port, too_large.format(
            "/settings/avatar", BROWSER_PAGE).encode())
        assert status.split()[1] == "413", status
        page = _a_page_of_our_own(httpx.Response(413, headers=headers, content=body))
        assert "too large" in page or "larger" in page, page
        status, headers, body = await asyncio.to_thread(_raw_answer, proxy.port, too_large.format(
            "/api/v1/media/upload", BROWSER_PAGE).encode())
        assert status.split()[1] == "413" and headers["content-type"] == "application/json"
        assert orjson.loads(body)["error"]["code"] == "payload_too_large", body

        # The access log names each request's own path, not the error page's.
        logged = await asyncio.to_thread(proxy.access_log)
        assert '"POST /blogs/7/comments HTTP/1.1" 503' in logged, logged
        assert '"POST /settings/avatar HTTP/1.1" 413' in logged, logged
    finally:
        await asyncio.to_thread(proxy.close)
