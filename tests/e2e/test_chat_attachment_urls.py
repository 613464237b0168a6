"""Chat attachment URLs on the real server, over a real WebSocket: an http(s) URL, or a
/media/ path that the upload route issued to a member of the conversation. Anything else is
refused with a field error and nothing is stored."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

import pytest

from tests.support.chat_client import Client
from tests.support.images import png
from tests.support.media_files import pdf
from tests.support.people import befriend, user

# What encodeURIComponent leaves unescaped, besides letters and digits.
URI_COMPONENT = "-_.!~*'()"


async def direct(live, a: dict, b: dict, ws: Client) -> str:
    await befriend(live.services, a["id"], b["id"])
    return (await ws.command("open_direct", user_id=b["id"]))["conversation"]["id"]


async def upload(live, who: dict) -> str:
    r = await live.http.post("/api/v1/media/upload",
                             headers={"Authorization": f"Bearer {who['jwt']}"},
                             files={"file": ("a.png", png(), "image/png")})
    assert r.status_code == 201, r.text
    return r.json()["url"]


@pytest.mark.parametrize("url", [
    "/media/../../etc/passwd",
    "/media/%2e%2e/%2e%2e/etc/passwd",
    "/etc/passwd",
    "/media/AAAAAAAAAAAAAAAAAAAAAAAA.png",  # well-formed, but never issued
    "javascript:alert(1)",
    "file:///etc/passwd",
])
async def test_attachment_path_not_issued_by_the_upload_route_is_refused(live, url):
    a, b = await user(live.http), await user(live.http)
    ws = await Client.connect(live.ws, a)
    try:
        cid = await direct(live, a, b, ws)
        answer = await ws.command("send", conversation_id=cid, client_id="c1", kind="file",
                                  attachments=[{"url": url, "kind": "file"}])
        assert answer["type"] == "error", answer
        assert "attachments.url" in {d["field"] for d in answer["details"]}, answer
        assert (await ws.command("history", conversation_id=cid))["messages"] == []
    finally:
        await ws.close()


async def test_uploads_of_members_are_accepted_and_a_strangers_are_not(live):
    a, b, stranger = await user(live.http), await user(live.http), await user(live.http)
    ws = await Client.connect(live.ws, a)
    try:
        cid = await direct(live, a, b, ws)
        for who in (a, b):  # the sender's own upload, and one the other member shared
            url = await upload(live, who)
            sent = await ws.command("send", conversation_id=cid, client_id=f"ok-{who['id']}",
                                    kind="image", attachments=[{"url": url, "kind": "image"}])
            assert sent["type"] == "ack", sent
        foreign = await upload(live, stranger)
        refused = await ws.command("send", conversation_id=cid, client_id="foreign",
                                   kind="image", attachments=[{"url": foreign, "kind": "image"}])
        assert refused["type"] == "error", refused
        assert refused["details"][0]["code"] == "not_uploaded", refused
        web = await ws.command("send", conversation_id=cid, client_id="web", kind="file",
                               attachments=[{"url": "https://cdn.example/a.pdf"}])
        assert web["type"] == "ack", web
    finally:
        await ws.close()


async def test_the_http_send_path_applies_the_same_rule(live):
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    auth = {"Authorization": f"Bearer {a['jwt']}"}
    cid = (await live.http.post("/api/v1/conversations", headers=auth,
                                json={"kind": "direct", "user_id": b["id"]})).json()["id"]
    r = await live.http.post(f"/api/v1/conversations/{cid}/messages", headers=auth, json={
        "kind": "file", "attachments": [{"url": "/media/../../etc/passwd", "kind": "file"}]})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"][0]["field"] == "attachments.url"
    history = await live.http.get(f"/api/v1/conversations/{cid}/messages", headers=auth)
    assert history.json()["messages"] == []


async def test_an_uploads_kind_and_size_are_the_ledgers_not_the_senders(live):
    """A client renders an attachment by its kind: a file sent as `kind: image, size: 1`
    in a message of kind image must reach the others as the file it is, real size included."""
    a, b = await user(live.http), await user(live.http)
    ws = await Client.connect(live.ws, a)
    try:
        cid = await direct(live, a, b, ws)
        body = pdf()
        r = await live.http.post("/api/v1/media/upload",
                                 headers={"Authorization": f"Bearer {a['jwt']}"},
                                 files={"file": ("report.pdf", body, "application/pdf")})
        assert r.status_code == 201, r.text
        url = r.json()["url"]
        sent = await ws.command("send", conversation_id=cid, client_id="pdf", kind="image",
                                attachments=[{"url": url, "kind": "image", "size": 1,
                                              "name": "report.pdf"}])
        assert sent["type"] == "ack", sent
        assert sent["message"]["kind"] == "file"
        (stored,) = sent["message"]["attachments"]
        assert (stored["kind"], stored["size"], stored["name"]) == ("file", len(body),
                                                                    "report.pdf")
        (kept,) = (await ws.command("history", conversation_id=cid))["messages"]
        assert kept["attachments"] == [stored]
    finally:
        await ws.close()


async def test_an_attachment_reaches_the_others_with_its_name_cleaned_or_with_none(live):
    """The name a member sees is cleaned as an upload's (no bidi override to turn
    "gnp.exe" into "exe.png"); an attachment sent without a name gets none, not the
    upload's original name, which its owner did not choose to send."""
    a, b = await user(live.http), await user(live.http)
    ws, other = await Client.connect(live.ws, a), await Client.connect(live.ws, b)
    try:
        cid = await direct(live, a, b, ws)
        r = await live.http.post("/api/v1/media/upload",
                                 headers={"Authorization": f"Bearer {a['jwt']}"},
                                 files={"file": ("John_Doe_passport_scan.pdf", pdf(),
                                                 "application/pdf")})
        assert r.json()["original_name"] == "John_Doe_passport_scan.pdf"
        url = r.json()["url"]
        sent = await ws.command("send", conversation_id=cid, client_id="named", kind="file",
                                attachments=[{"url": url}, {"url": url,
                                                            "name": "invoice\u202egnp.exe"}])
        assert sent["type"] == "ack", sent
        got = await other.expect("newMessage")
        assert got["message"]["client_id"] == "named"
        names = [attachment.get("name") for attachment in got["message"]["attachments"]]
        assert names == [None, "invoicegnp.exe"]
        assert "John_Doe" not in str(got)
    finally:
        await ws.close()
        await other.close()


async def test_an_attachment_name_up_to_its_bound_downloads_through_the_web_clients_link(live):
    """Any name an attachment can hold (255 characters, cleaned then cut) gives a download
    link, built as chat_messages.js builds it, that serves the file; NFC grows U+FB2C to
    three code points, and the cleaned name is cut to the bound, not stored at 765."""
    a, b = await user(live.http), await user(live.http)
    ws = await Client.connect(live.ws, a)
    try:
        cid = await direct(live, a, b, ws)
        r = await live.http.post("/api/v1/media/upload",
                                 headers={"Authorization": f"Bearer {a['jwt']}"},
                                 files={"file": ("r.pdf", pdf(), "application/pdf")})
        url = r.json()["url"]
        long_name = "\u00e9" * 100 + "\U0001f600" * 26 + "n" * 100 + ".pdf"  # 230
        grows = "\ufb2c" * 255
        sent = await ws.command("send", conversation_id=cid, client_id="long", kind="file",
                                attachments=[{"url": url, "name": long_name},
                                             {"url": url, "name": grows}])
        assert sent["type"] == "ack", sent
        (kept,) = (await ws.command("history", conversation_id=cid))["messages"]
        names = [attachment["name"] for attachment in kept["attachments"]]
        assert names == [long_name, unicodedata.normalize("NFC", grows)[:255]]
        for name in names:
            link = f"{url}?name={quote(name, safe=URI_COMPONENT)}"
            got = await live.http.get(link, headers={"Authorization": f"Bearer {b['jwt']}"})
            assert got.status_code == 200, got.text
            assert got.headers["content-disposition"].startswith("attachment;")
    finally:
        await ws.close()
