"""deploy/nginx.conf with its TLS kept, as an operator runs it: a certificate from a CA made
for the test, nginx in front of one instance. What a user relies on: plain http sends them
to https, pages and sign-in are served over TLS with HSTS and `Secure` cookies, and a
browser's wss:// socket authenticates with that cookie and chats; a client that does not
trust the certificate gets nothing."""

from __future__ import annotations

import asyncio
import ssl
import warnings

import httpx
import pytest
import websockets

from tests.support.chat_client import Client
from tests.support.frame_schema import ServerFrames
from tests.support.http import PASSWORD, bearer, sign_up
from tests.support.instances import befriend, instances, shared_databases  # noqa: F401 (fixtures)
from tests.support.nginx import Nginx, PortTaken, require_nginx
from tests.support.redis_server import redis_server  # noqa: F401 (fixture)
from tests.support.system import free_ports
from tests.support.tls import Certificates, make_certificates

pytestmark = pytest.mark.slow

HSTS = "max-age=31536000"


@pytest.fixture
def programs(tmp_path) -> tuple[str, Certificates]:
    """nginx and the test's certificates (openssl): listed before `instances`, a missing
    program skips (or under CI=true fails) before any instance starts."""
    return require_nginx(), make_certificates(tmp_path / "tls")


async def _start(instances, executable: str, certificates: Certificates) -> tuple[str, Nginx]:
    """An instance whose public URL is nginx's https address, and nginx in front of it."""
    try:
        return await _start_once(instances, executable, certificates)
    except PortTaken:
        # The ports are chosen before the instance starts, as its PUBLIC_URL names them: in
        # that window another process may take one. Once more with fresh ports (the first
        # instance stays idle until the fixture stops it).
        return await _start_once(instances, executable, certificates)


async def _start_once(instances, executable: str,
                      certificates: Certificates) -> tuple[str, Nginx]:
    port, redirect_port = free_ports(2)
    site = f"https://127.0.0.1:{port}"
    # As deployed: the public URL is nginx's https address (the allowed Origin), and the
    # instance believes nginx's X-Forwarded-Proto.
    (run,) = await instances.start(1, FORWARDED_ALLOW_IPS="127.0.0.1", PUBLIC_URL=site)
    proxy = await asyncio.to_thread(Nginx, executable, [run.url.removeprefix("http://")],
                                    certificates, (port, redirect_port))
    return site, proxy


async def test_the_shipped_site_serves_tls_and_a_browser_signs_in_and_chats_over_wss(
        programs, instances):
    executable, certificates = programs
    trusted = certificates.client_context()
    site, proxy = await _start(instances, executable, certificates)
    port = proxy.port
    try:
        assert proxy.url == site
        # Plain http answers only with a redirect to https, path and query kept (port 443
        # in the recipe, so the URL names none).
        async with httpx.AsyncClient() as plain:
            r = await plain.get(f"{proxy.redirect_url}/chat?with=7&q=a%20b")
        assert r.status_code == 301, r.text
        assert r.headers["location"] == "https://127.0.0.1/chat?with=7&q=a%20b"

        async with httpx.AsyncClient(base_url=site, verify=trusted) as https:
            r = await https.get("/ready")
            assert r.status_code == 200 and r.headers["strict-transport-security"] == HSTS
            # A page, whose CSP lets its script open the socket on this https origin.
            r = await https.get("/")
            assert r.status_code == 200, r.text
            assert r.headers["content-type"].startswith("text/html")
            assert r.headers["strict-transport-security"] == HSTS
            assert f"connect-src 'self' wss://127.0.0.1:{port};" in \
                r.headers["content-security-policy"]

            a, b = ({"id": s["user"]["id"], "jwt": s["jwt"]} for s in [
                await sign_up(https, email=f"tls-{x}@example.com") for x in "ab"])
            await befriend(https, a, b)
            r = await https.post("/api/v1/user/signin", json={
                "email": "tls-a@example.com", "password": PASSWORD})
            assert r.status_code == 200, r.text
            cookies = {c.split("=", 1)[0]: c for c in r.headers.get_list("set-cookie")}
            assert set(cookies) == {"jwt", "refresh_token"}, cookies
            for name, cookie in cookies.items():
                assert "secure" in [part.strip().lower() for part in cookie.split(";")], cookie
            jwt = https.cookies["jwt"]
            frames = ServerFrames((await https.get("/api/v1/ws/schema")).json())

            # The browser's socket: wss:// to the page's origin, the sign-in cookie sent with
            # the page's Origin, no token in the URL.
            ws = await websockets.connect(f"wss://127.0.0.1:{port}/ws", ssl=trusted,
                                          origin=site, additional_headers={"Cookie": f"jwt={jwt}"},
                                          close_timeout=2.0)
            client = Client(ws, {**a, "jwt": jwt}, frames)
            try:
                client.hello = await client.recv()
                assert client.hello["type"] == "hello"
                assert client.hello["user_id"] == a["id"]
                cid = await client.open_direct(b)
                sent = await client.command("send", conversation_id=cid, client_id="tls-1",
                                            text="over wss")
                assert sent["type"] == "ack", sent
            finally:
                await client.close()
            r = await https.get(f"/api/v1/conversations/{cid}/messages", headers=bearer(b))
            assert r.status_code == 200, r.text
            assert [m["text"] for m in r.json()["messages"]] == ["over wss"]

        # The protocols the file names, over the http {} ssl_protocols of Debian's nginx.conf
        # (TLSv1 to TLSv1.3): TLS 1.3 to a client offering it, 1.2 to one that stops there.
        # OpenSSL at its default security level refuses 1.0 and 1.1 whatever nginx lists;
        # a protocol-version alert, not an internal error, shows that nginx's list excludes
        # them.
        assert await _negotiated(port, trusted) == "TLSv1.3"
        upto_1_2 = certificates.client_context()
        upto_1_2.maximum_version = ssl.TLSVersion.TLSv1_2
        assert await _negotiated(port, upto_1_2) == "TLSv1.2"
        old = certificates.client_context()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # setting them is deprecated
            old.minimum_version, old.maximum_version = ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1
        old.set_ciphers("DEFAULT@SECLEVEL=0")  # or the client itself would offer nothing
        with pytest.raises(ssl.SSLError, match="TLSV1_ALERT_PROTOCOL_VERSION"):
            await _negotiated(port, old)

        # The TLS is real: a client trusting only the usual authorities is refused, over
        # https and wss alike.
        async with httpx.AsyncClient() as untrusting:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await untrusting.get(f"{site}/ready")
        with pytest.raises(ssl.SSLCertVerificationError):
            await websockets.connect(f"wss://127.0.0.1:{port}/ws?token={jwt}",
                                     ssl=ssl.create_default_context())
    finally:
        await asyncio.to_thread(proxy.close)


async def _negotiated(port: int, context: ssl.SSLContext) -> str:
    """The TLS version a handshake with `context` gets from nginx."""
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    try:
        return writer.get_extra_info("ssl_object").version()
    finally:
        writer.close()
        await writer.wait_closed()
