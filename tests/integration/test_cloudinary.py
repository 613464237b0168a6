"""The Cloudinary media store against a local server that plays Cloudinary's upload API.

The real SDK makes the real HTTP request; only its API address (`upload_prefix`) points here.
The fake checks the request as Cloudinary would: the signature is the SHA-1 of the sorted
`key=value` parameters joined by '&' followed by the API secret.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from nirvana.domain.sniffing import sniff
from nirvana.domain.upload_sweep import sweep
from nirvana.storage.media import CloudinaryMediaStore
from tests.support.http import PASSWORD, bearer, sign_up
from tests.support.people import befriend, user
from tests.support.waiting import wait_until
from tests.support.images import png
from tests.support.media_files import mp4, pdf, wav

pytestmark = pytest.mark.anyio

CLOUD, KEY, SECRET = "demo-cloud", "123456789012345", "s3cr3t-API-secret"


def expected_signature(params: dict[str, str], secret: str) -> str:
    to_sign = "&".join(f"{k}={v.replace('&', '%26')}" for k, v in sorted(params.items()) if v)
    return hashlib.sha1((to_sign + secret).encode()).hexdigest()


def cloud(server: "FakeCloudinary", secret: str = SECRET, **options) -> CloudinaryMediaStore:
    """A Cloudinary store whose API address is the fake `server`; signed with `secret`."""
    return CloudinaryMediaStore(f"cloudinary://{KEY}:{secret}@{CLOUD}",
                                upload_prefix=server.prefix, **options)


class FakeCloudinary(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict] = []
        self.stored: dict[tuple[str, str], bytes | None] = {}  # (resource type, public id)
        # Set: stores an upload under this folder + the id sent, as an account whose folder
        # mode builds ids otherwise would.
        self.prefixing: str | None = None
        self.refusing_destroy = False  # set: every destroy answers an error

    @property
    def prefix(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeCloudinary

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body)
        fields, file = {}, None
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name == "file":
                file = part.get_payload(decode=True)
            else:
                fields[name] = part.get_content().strip()
        signed = {k: v for k, v in fields.items() if k not in ("signature", "api_key")}
        resource_type = self.path.split("/")[3] if self.path.count("/") == 4 else ""
        action = self.path.rsplit("/", 1)[-1]
        ok = (self.path == f"/v1_1/{CLOUD}/{resource_type}/{action}"
              and action in ("upload", "destroy")
              and resource_type in ("image", "video", "raw") and fields.get("api_key") == KEY
              and fields.get("signature") == expected_signature(signed, SECRET))
        self.server.requests.append({"path": self.path, "fields": fields, "file": file,
                                     "signature_ok": ok, "resource_type": resource_type,
                                     "action": action})
        if not ok:
            self._answer(401, {"error": {"message": "Invalid Signature"}})
            return
        if action == "destroy" and self.server.refusing_destroy:
            self._answer(500, {"error": {"message": "General Error"}})
            return
        if action == "destroy":
            found = self.server.stored.pop((resource_type, fields.get("public_id")), None)
            self._answer(200, {"result": "ok" if found else "not found"})
            return
        version = int(time.time())
        public_id = fields["public_id"]
        if self.server.prefixing is not None:
            public_id = f"{self.server.prefixing}/{public_id}"
        self.server.stored[(resource_type, public_id)] = file
        fmt = {"image": "png", "video": "mp4"}.get(resource_type)
        self._answer(200, {
            "asset_id": "3515c6000a548515f1134043f9785c2f", "public_id": public_id,
            "version": version, "signature": "abcdef", "width": 2, "height": 2,
            "format": fmt, "resource_type": resource_type,
            "created_at": "2024-01-01T00:00:00Z",
            "bytes": len(file or b""), "type": "upload", "etag": "e1",
            "url": f"http://res.cloudinary.com/{CLOUD}/{resource_type}/upload/v{version}/"
                   f"{public_id}.{fmt}",
            "secure_url": f"https://res.cloudinary.com/{CLOUD}/{resource_type}/upload/"
                          f"v{version}/{public_id}.{fmt}",
            "asset_folder": fields.get("asset_folder", ""), "original_filename": "upload",
        })

    def _answer(self, status: int, body: dict) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture
def cloudinary_server() -> Iterator[FakeCloudinary]:
    server = FakeCloudinary()
    # Its shutdown waits for the serving loop's next poll: 0.5 s apart by default.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


async def test_upload_goes_to_cloudinary_signed_into_the_folder(client, services,
                                                                cloudinary_server):
    services.uploads.store = cloud(cloudinary_server, folder="nirvana")
    ann = await sign_up(client)
    data = png()
    r = await client.post("/api/v1/image/upload", headers=bearer(ann),
                          files={"file": ("me.exe", data, "application/octet-stream")})
    assert r.status_code == 201, r.text
    [sent] = cloudinary_server.requests
    assert sent["signature_ok"] and sent["file"] == data
    assert {"asset_folder", "public_id", "timestamp", "signature", "api_key"} <= set(
        sent["fields"])
    assert sent["fields"]["asset_folder"] == "nirvana" and "folder" not in sent["fields"]
    public_id = sent["fields"]["public_id"]
    assert public_id.startswith("nirvana/") and len(public_id) == len("nirvana/") + 24
    assert abs(int(sent["fields"]["timestamp"]) - time.time()) < 60
    url = r.json()["url"]
    assert url.startswith(f"https://res.cloudinary.com/{CLOUD}/image/upload/")
    assert "/c_limit,f_auto,q_auto,w_1000/" in url and url.endswith(f"/{public_id}.png")
    assert ("image", public_id) in cloudinary_server.stored


async def test_refused_upload_is_503_without_leaking_details(client, services,
                                                             cloudinary_server):
    services.uploads.store = cloud(cloudinary_server, "wrong-secret")
    ann = await sign_up(client)
    r = await client.post("/api/v1/image/upload", headers=bearer(ann),
                          files={"file": ("a.png", png(), "image/png")})
    assert r.status_code == 503
    assert "wrong-secret" not in r.text and "Signature" not in r.text
    assert cloudinary_server.requests[0]["signature_ok"] is False


async def test_video_goes_to_cloudinary_as_a_video_resource(client, services,
                                                             cloudinary_server):
    services.uploads.store = cloud(cloudinary_server, folder="nirvana")
    ann = await sign_up(client)
    data = mp4()
    r = await client.post("/api/v1/media/upload?kind=video", headers=bearer(ann),
                          files={"file": ("clip.png", data, "image/png")})
    assert r.status_code == 201, r.text
    [sent] = cloudinary_server.requests
    assert sent["signature_ok"] and sent["resource_type"] == "video" and sent["file"] == data
    body = r.json()
    assert body["kind"] == "video" and body["mime"] == "video/mp4" and body["size"] == len(data)
    # Delivered as uploaded: no image transformation on a video.
    assert body["url"].startswith(f"https://res.cloudinary.com/{CLOUD}/video/upload/v")
    assert body["url"].endswith(f"/{sent['fields']['public_id']}.mp4")
    assert "c_limit" not in body["url"]
    usage = (await client.get("/api/v1/media/usage", headers=bearer(ann))).json()
    assert usage["used_bytes"] == len(data) and usage["files"] == 1


@pytest.mark.parametrize("data,resource_type", [(wav(), "video"), (pdf(), "raw")])
async def test_audio_is_a_video_resource_and_a_file_a_raw_one(client, services,
                                                               cloudinary_server, data,
                                                               resource_type):
    services.uploads.store = cloud(cloudinary_server)
    ann = await sign_up(client)
    r = await client.post("/api/v1/media/upload", headers=bearer(ann),
                          files={"file": ("x", data, "application/octet-stream")})
    assert r.status_code == 201, r.text
    [sent] = cloudinary_server.requests
    assert sent["signature_ok"] and sent["resource_type"] == resource_type
    assert r.json()["url"].startswith(f"https://res.cloudinary.com/{CLOUD}/{resource_type}/upload/")


def test_cloudinary_url_is_parsed_and_checked():
    with pytest.raises(ValueError):
        CloudinaryMediaStore("cloudinary://only-a-cloud")


def _deletes(server: FakeCloudinary) -> list[tuple[str, str, bool]]:
    return [(r["resource_type"], r["fields"].get("public_id"), r["signature_ok"])
            for r in server.requests if r["action"] == "destroy"]


async def _delete_account(client, user) -> None:
    r = await client.request("DELETE", "/api/v1/user/me", headers=bearer(user),
                             json={"password": PASSWORD})
    assert r.status_code == 204, r.text


async def test_a_deleted_accounts_uploads_are_destroyed_on_cloudinary(client, services,
                                                                     cloudinary_server):
    services.uploads.store = cloud(cloudinary_server)
    ann, bob = await sign_up(client), await sign_up(client)
    image = await client.post("/api/v1/image/upload", headers=bearer(ann),
                              files={"file": ("a.png", png(), "image/png")})
    document = await client.post("/api/v1/media/upload", headers=bearer(ann),
                                 files={"file": ("a.pdf", pdf(), "application/pdf")})
    bobs = await client.post("/api/v1/image/upload", headers=bearer(bob),
                             files={"file": ("b.png", png(), "image/png")})
    assert {image.status_code, document.status_code, bobs.status_code} == {201}
    assert "/c_limit," in image.json()["url"]  # a delivery URL with a transformation
    stored_before = dict(cloudinary_server.stored)

    await _delete_account(client, ann)

    async def erased() -> bool:
        return await services.pool.fetchval("SELECT count(*) FROM media_orphans") == 0
    await wait_until(erased, "the deleted account's uploads to be removed")
    # Both of hers destroyed, signed, by resource type and public id; Bob's untouched.
    hers = sorted(services.uploads.store.resource_of(r.json()["url"]) for r in (image, document))
    assert [h[0] for h in hers] == ["image", "raw"]
    assert sorted(_deletes(cloudinary_server)) == [(*h, True) for h in hers]
    assert list(cloudinary_server.stored) == [k for k in stored_before if k not in hers]


async def test_a_refused_cloudinary_delete_leaves_the_account_pending_until_a_retry(
        client, services, cloudinary_server):
    good = cloud(cloudinary_server)
    services.uploads.store = good
    ann = await sign_up(client)
    r = await client.post("/api/v1/image/upload", headers=bearer(ann),
                          files={"file": ("a.png", png(), "image/png")})
    assert r.status_code == 201
    services.uploads.store = cloud(cloudinary_server, "rotated")
    await _delete_account(client, ann)

    async def refused() -> bool:
        return any(not ok for _, _, ok in _deletes(cloudinary_server))
    await wait_until(refused, "the refused delete")
    # The ledger lets go of an address only once every store deleted it.
    assert await services.pool.fetchval("SELECT count(*) FROM media_orphans") == 1
    assert good.resource_of(r.json()["url"]) in cloudinary_server.stored

    # The key fixed: the erasure's next try (seconds later, wiring/account_deletion.py
    # RETRY_WAITS, or housekeeping's; here the test's, the services' wait being an hour)
    # deletes it.
    services.uploads.store = good
    assert services.erasure is not None
    assert await services.erasure.erase_pending() == 1
    assert await services.pool.fetchval("SELECT count(*) FROM media_orphans") == 0
    assert cloudinary_server.stored == {}


def test_only_this_clouds_uploads_are_recognised():
    store = CloudinaryMediaStore(f"cloudinary://{KEY}:{SECRET}@{CLOUD}")
    base = f"https://res.cloudinary.com/{CLOUD}"
    assert store.resource_of(f"{base}/image/upload/c_limit,w_1000/v1/nirvana/abc.png") == (
        "image", "nirvana/abc")
    assert store.resource_of(f"{base}/video/upload/v12/nirvana/clip.mp4") == ("video", "nirvana/clip")
    assert store.resource_of(f"{base}/raw/upload/v12/nirvana/doc.pdf") == ("raw", "nirvana/doc.pdf")
    for other in ("https://res.cloudinary.com/another-cloud/image/upload/v1/nirvana/abc.png",
                  f"{base}/image/upload/v1/someone-elses-folder/abc.png",
                  f"{base}/image/fetch/v1/nirvana/abc.png",
                  f"http://res.cloudinary.com/{CLOUD}/image/upload/v1/nirvana/abc.png",
                  "/media/abcdefghijklmnopqrstuvwx.png", "https://example.com/nirvana/abc.png"):
        assert store.resource_of(other) is None, other


async def test_a_chat_attachment_on_cloudinary_keeps_its_uploads_kind_and_size(
        client, services, cloudinary_server):
    # Uploads on Cloudinary are https URLs, not /media/ paths; the ledger still knows them,
    # so a PDF sent as an image is stored as the file it is, in a message of kind file.
    services.uploads.store = cloud(cloudinary_server)
    ann, bob = await user(client), await user(client)
    await befriend(services, ann["id"], bob["id"])
    r = await client.post("/api/v1/media/upload", headers=bearer(ann),
                          files={"file": ("report.pdf", pdf(), "application/pdf")})
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    cid = (await client.post("/api/v1/conversations", headers=bearer(ann),
                             json={"kind": "direct", "user_id": bob["id"]})).json()["id"]
    r = await client.post(f"/api/v1/conversations/{cid}/messages", headers=bearer(ann), json={
        "kind": "image", "attachments": [{"url": url, "kind": "image", "size": 1}]})
    assert r.status_code in (200, 201), r.text
    message = r.json().get("message", r.json())
    assert message["kind"] == "file"
    assert message["attachments"] == [{"url": url, "kind": "file", "size": len(pdf())}]


async def _on_cloudinary(client, services, server) -> tuple[CloudinaryMediaStore, dict, str]:
    """The Cloudinary store in use, a user, and the name of a file they uploaded there."""
    store = cloud(server)
    services.uploads.store = store
    ann = await sign_up(client)
    r = await client.post("/api/v1/media/upload", headers=bearer(ann),
                          files={"file": ("a.pdf", pdf(), "application/pdf")})
    assert r.status_code == 201, r.text
    # Named as on disk: the last segment of its URL, which the list gives too.
    name = r.json()["name"]
    assert len(name) == 24 + len(".pdf") and r.json()["url"].endswith("/nirvana/" + name)
    return store, ann, name


async def _usage(client, session: dict) -> tuple[int, int]:
    usage = (await client.get("/api/v1/media/usage", headers=bearer(session))).json()
    return usage["used_bytes"], usage["files"]


async def test_deleting_an_upload_destroys_it_on_cloudinary_and_a_refusal_gives_nothing_back(
        client, services, cloudinary_server):
    good, ann, name = await _on_cloudinary(client, services, cloudinary_server)
    listed = (await client.get("/api/v1/media", headers=bearer(ann))).json()["items"]
    assert [i["name"] for i in listed] == [name]

    services.uploads.store = cloud(cloudinary_server, "rotated")
    refused = await client.delete(f"/api/v1/media/{name}", headers=bearer(ann))
    assert refused.status_code == 503, refused.text
    assert "rotated" not in refused.text
    assert await _usage(client, ann) == (len(pdf()), 1)  # nothing given back

    services.uploads.store = good
    r = await client.delete(f"/api/v1/media/{name}", headers=bearer(ann))
    assert r.status_code == 204, r.text
    assert _deletes(cloudinary_server)[-1] == ("raw", "nirvana/" + name, True)
    assert cloudinary_server.stored == {}
    assert await _usage(client, ann) == (0, 0)
    again = await client.delete(f"/api/v1/media/{name}", headers=bearer(ann))
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"


async def test_an_upload_no_store_in_use_holds_is_not_deleted_nor_given_back(
        client, services, cloudinary_server):
    cloud, ann, name = await _on_cloudinary(client, services, cloudinary_server)
    # CLOUDINARY_URL unset since: back on the disk, which leaves Cloudinary's URLs alone.
    services.uploads.store = services.local_media
    refused = await client.delete(f"/api/v1/media/{name}", headers=bearer(ann))
    assert refused.status_code == 503, refused.text
    assert cloudinary_server.stored  # still there, still served
    assert await _usage(client, ann) == (len(pdf()), 1)
    listed = (await client.get("/api/v1/media", headers=bearer(ann))).json()["items"]
    assert [i["name"] for i in listed] == [name]

    services.uploads.store = cloud  # configured again: the deletion goes through
    assert (await client.delete(f"/api/v1/media/{name}", headers=bearer(ann))).status_code == 204
    assert cloudinary_server.stored == {}


async def test_an_upload_cut_off_on_cloudinary_is_destroyed_by_its_chosen_public_id(
        client, services, cloudinary_server):
    """The public id is chosen before the upload and sent with it, so the reservation names
    it; a reservation left by a crash is swept with a signed destroy of that id."""
    store = cloud(cloudinary_server, folder="nirvana")
    services.uploads.store = store
    ann = await sign_up(client)
    r = await client.post("/api/v1/media/upload", headers=bearer(ann),
                          files={"file": ("a.pdf", pdf(), "application/pdf")})
    assert r.status_code == 201, r.text
    sent = cloudinary_server.requests[0]["fields"]["public_id"]
    assert len(sent) == len("nirvana/" + "x" * 24 + ".pdf") and sent.endswith(".pdf")  # raw
    assert ("raw", sent) in cloudinary_server.stored  # the id it was sent, stored as is

    url = store.new_url(sniff(png()))
    assert await services.uploads.ledger.reserve(ann["user"]["id"], 10, 10**9, url)
    assert await sweep(services.uploads, older_than=0) == 1
    destroy = cloudinary_server.requests[-1]
    assert (destroy["action"], destroy["resource_type"], destroy["signature_ok"]) == (
        "destroy", "image", True)
    assert destroy["fields"]["public_id"] == store.resource_of(url)[1]
    assert destroy["fields"]["public_id"].startswith("nirvana/")
    usage = (await client.get("/api/v1/media/usage", headers=bearer(ann))).json()
    assert usage["used_bytes"] == len(pdf())


async def test_a_refused_destroy_keeps_the_reservation_for_the_next_sweep(
        client, services, cloudinary_server):
    refusing = cloud(cloudinary_server, "wrong-secret")
    services.uploads.store = refusing
    ann = await sign_up(client)
    for _ in range(2):
        url = refusing.new_url(sniff(pdf()))
        assert await services.uploads.ledger.reserve(ann["user"]["id"], 10, 10**9, url)
    asked = len(cloudinary_server.requests)
    assert await sweep(services.uploads, older_than=0) == 0
    # The first refusal ends the sweep: the store is down, the second waits for the next.
    assert len(cloudinary_server.requests) == asked + 1
    assert cloudinary_server.requests[-1]["signature_ok"] is False
    usage = (await client.get("/api/v1/media/usage", headers=bearer(ann))).json()
    assert usage["used_bytes"] == 20

    services.uploads.store = cloud(cloudinary_server)
    assert await sweep(services.uploads, older_than=0) == 2
    usage = (await client.get("/api/v1/media/usage", headers=bearer(ann))).json()
    assert usage["used_bytes"] == 0


async def test_an_upload_stored_under_another_id_is_destroyed_and_refused(
        client, services, cloudinary_server):
    """An account that builds ids otherwise (its folder mode) would leave the file under a
    name no reservation holds: the upload is refused and what was stored destroyed."""
    services.uploads.store = cloud(cloudinary_server)
    cloudinary_server.prefixing = "nirvana"
    ann = await sign_up(client)
    r = await client.post("/api/v1/media/upload", headers=bearer(ann),
                          files={"file": ("a.pdf", pdf(), "application/pdf")})
    assert r.status_code == 503, r.text
    destroyed = cloudinary_server.requests[1]["fields"]["public_id"]
    assert destroyed.startswith("nirvana/nirvana/")
    assert cloudinary_server.stored == {}
    assert await _usage(client, ann) == (0, 0)
    assert await services.pool.fetchval("SELECT count(*) FROM media_pending") == 0


async def test_a_stray_id_that_will_not_be_destroyed_still_answers_the_uploads_error(
        client, services, cloudinary_server, caplog):
    services.uploads.store = cloud(cloudinary_server)
    cloudinary_server.prefixing = "nirvana"
    cloudinary_server.refusing_destroy = True
    ann = await sign_up(client)
    r = await client.post("/api/v1/media/upload", headers=bearer(ann),
                          files={"file": ("a.pdf", pdf(), "application/pdf")})
    assert r.status_code == 503, r.text
    assert "under another name" in r.text and "deletion" not in r.text
    [stray] = cloudinary_server.stored
    assert "and would not destroy it" in caplog.text and stray[1] in caplog.text
    # The reserved id's destroy was refused too: its reservation waits for the sweep.
    assert await services.pool.fetchval("SELECT size FROM media_pending") == len(pdf())
