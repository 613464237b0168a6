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

from nirvana.storage.media import CloudinaryMediaStore
from tests.support.http import bearer, sign_up
from tests.support.images import png
from tests.support.media_files import mp4, pdf, wav

pytestmark = pytest.mark.anyio

CLOUD, KEY, SECRET = "demo-cloud", "123456789012345", "s3cr3t-API-secret"


def expected_signature(params: dict[str, str], secret: str) -> str:
    to_sign = "&".join(f"{k}={v.replace('&', '%26')}" for k, v in sorted(params.items()) if v)
    return hashlib.sha1((to_sign + secret).encode()).hexdigest()


class FakeCloudinary(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict] = []

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
        ok = (self.path == f"/v1_1/{CLOUD}/{resource_type}/upload"
              and resource_type in ("image", "video", "raw") and fields.get("api_key") == KEY
              and fields.get("signature") == expected_signature(signed, SECRET))
        self.server.requests.append({"path": self.path, "fields": fields, "file": file,
                                     "signature_ok": ok, "resource_type": resource_type})
        if not ok:
            self._answer(401, {"error": {"message": "Invalid Signature"}})
            return
        version = int(time.time())
        public_id = f"{fields['folder']}/k3yqzv1xq8b2"
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
            "folder": fields["folder"], "original_filename": "upload",
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
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


async def test_upload_goes_to_cloudinary_signed_into_the_folder(client, services,
                                                                cloudinary_server):
    store = CloudinaryMediaStore(f"cloudinary://{KEY}:{SECRET}@{CLOUD}",
                                 upload_prefix=cloudinary_server.prefix, folder="nirvana")
    services.uploads.store = store
    ann = await sign_up(client)
    data = png()
    r = await client.post("/api/v1/image/upload", headers=bearer(ann),
                          files={"file": ("me.exe", data, "application/octet-stream")})
    assert r.status_code == 201, r.text
    [sent] = cloudinary_server.requests
    assert sent["signature_ok"] and sent["file"] == data
    assert {"folder", "timestamp", "signature", "api_key"} <= set(sent["fields"])
    assert sent["fields"]["folder"] == "nirvana"
    assert abs(int(sent["fields"]["timestamp"]) - time.time()) < 60
    url = r.json()["url"]
    assert url.startswith(f"https://res.cloudinary.com/{CLOUD}/image/upload/")
    assert "/c_limit,f_auto,q_auto,w_1000/" in url and url.endswith("/nirvana/k3yqzv1xq8b2.png")


async def test_refused_upload_is_503_without_leaking_details(client, services,
                                                             cloudinary_server):
    store = CloudinaryMediaStore(f"cloudinary://{KEY}:wrong-secret@{CLOUD}",
                                 upload_prefix=cloudinary_server.prefix)
    services.uploads.store = store
    ann = await sign_up(client)
    r = await client.post("/api/v1/image/upload", headers=bearer(ann),
                          files={"file": ("a.png", png(), "image/png")})
    assert r.status_code == 503
    assert "wrong-secret" not in r.text and "Signature" not in r.text
    assert cloudinary_server.requests[0]["signature_ok"] is False


async def test_video_goes_to_cloudinary_as_a_video_resource(client, services,
                                                             cloudinary_server):
    store = CloudinaryMediaStore(f"cloudinary://{KEY}:{SECRET}@{CLOUD}",
                                 upload_prefix=cloudinary_server.prefix, folder="nirvana")
    services.uploads.store = store
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
    assert body["url"].endswith("/nirvana/k3yqzv1xq8b2.mp4") and "c_limit" not in body["url"]
    usage = (await client.get("/api/v1/media/usage", headers=bearer(ann))).json()
    assert usage["used_bytes"] == len(data) and usage["files"] == 1


@pytest.mark.parametrize("data,resource_type", [(wav(), "video"), (pdf(), "raw")])
async def test_audio_is_a_video_resource_and_a_file_a_raw_one(client, services,
                                                               cloudinary_server, data,
                                                               resource_type):
    services.uploads.store = CloudinaryMediaStore(f"cloudinary://{KEY}:{SECRET}@{CLOUD}",
                                                  upload_prefix=cloudinary_server.prefix)
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
