"""Uploads (/api/v1/media/upload, and /api/v1/image/upload for images only), the caller's
storage usage, the list and deletion of their uploads (/api/v1/media), and serving of locally
stored media (/media/{name})."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal
from urllib.parse import quote

from pydantic import Field
from starlette.responses import FileResponse, Response

from ...domain.errors import BadRequestError, NotFoundError
from ...domain.sniffing import OCTET_STREAM, ContentType, MediaKind
from ...domain.upload_names import MAX_ATTACHMENT_NAME
from ...domain.uploads import StoredUpload, decode_cursor, encode_cursor, name_of
from ..api import Api, Call, In, Out
from ..byte_ranges import RangeRefusal, judge_range, range_applies
from ..errors import error_response
from ..idempotency import covering
from ..multipart import ReceivedFile, read_file
from ..schemas.social import PageIn, StorageOut, UploadOut

api = Api()
TAGS = ["media"]

# Names are random and content never changes under a name, so caches may keep it for good.
# nosniff and the sandboxing CSP stop a browser from treating an upload as a page or script.
MEDIA_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


def upload_body(description: str) -> dict:
    return {
        "required": True,
        # What "the same request" is for the route's Idempotency-Key (the fingerprint).
        "description": "With an Idempotency-Key, a retry must send the same bytes, file name "
                       "and query (`?kind=`); anything else is 409 `idempotency_key_reused`.",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary",
                                            "description": description}},
                }
            }
        },
    }


UPLOAD_BODY = upload_body("A JPEG, PNG, WebP or GIF image")


class MediaUploadQuery(In):
    kind: Literal["image", "audio", "video", "file"] | None = Field(
        default=None, description="Refuse (415) an upload whose content is of another kind: "
                                  "e.g. `video` for a blog's video")


class MediaOut(Out):
    url: str = Field(description="Where it is served: /media/... or a Cloudinary URL")
    name: str = Field(description="Its name in DELETE /api/v1/media/{name}: the last segment "
                                  "of its URL")
    kind: Literal["image", "audio", "video", "file"] = Field(
        description="Judged from the bytes; a `file` is only ever served as a download")
    mime: str
    size: int = Field(description="Bytes")
    original_name: str | None = Field(
        description="The file name the upload was sent with (the multipart part's "
                    "`filename`), cleaned as docs/media.md says; for showing only. null when "
                    "none was sent, or for a file uploaded before names were kept")


class StoredMediaOut(MediaOut):
    created_at: datetime = Field(description="When it was uploaded")

    @classmethod
    def of(cls, upload: StoredUpload) -> "StoredMediaOut":
        return cls(url=upload.url, name=upload.name, kind=upload.kind.value, mime=upload.mime,
                   size=upload.size, created_at=upload.created_at,
                   original_name=upload.original_name)


class MediaPageIn(PageIn):
    # Longer than the other lists' cursors: the position holds the upload's URL, and a
    # Cloudinary URL with its transformation is over 100 characters.
    cursor: str | None = Field(default=None, max_length=400, pattern=r"^[A-Za-z0-9_-]+$",
                               description="next_cursor of the previous page")


class MediaPageOut(Out):
    items: list[StoredMediaOut] = Field(description="Your uploads, newest first")
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; "
                                                "null on the last page")


class MediaQuery(In):
    # As long as a chat attachment's name: the web client links its downloads by it.
    name: str | None = Field(default=None, max_length=MAX_ATTACHMENT_NAME,
                             description="The name to download a file under (made safe: "
                                         "path characters replaced, the type's extension kept)")


def download_name(stored: str, content: ContentType, asked: str | None) -> str:
    """The file name a download is saved under: the one asked for, reduced to letters, digits
    and a few marks (no path, no quotes), ending in the extension of what the bytes are, so
    `x.html` asked of a PDF is saved as `x.html.pdf`. Without one, the stored name."""
    if not asked:
        return stored
    name = re.sub(r"[^\w .()+-]", "_", asked).strip(" .")[:150] or "download"
    if content is not OCTET_STREAM and not name.lower().endswith("." + content.extension):
        name = f"{name}.{content.extension}"
    return name


def attachment_header(name: str) -> str:
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


async def read_upload(call: Call, limit: int) -> ReceivedFile:
    """The file, and with an Idempotency-Key its fingerprint made to cover what the request
    sent: the file's bytes (hashed as they arrive), its name and the query."""
    sent = await read_file(call.request, "file", limit, hashed=call.idempotency is not None)
    query = call.query.model_dump(mode="json", exclude_unset=True) if call.query else None
    call.idempotency = covering(call.idempotency, [sent.sha256, sent.filename, query])
    return sent


@api.route("POST", "/api/v1/image/upload",
           summary="Upload an image (JPEG, PNG, WebP or GIF, judged by its bytes)", tags=TAGS,
           response=UploadOut, status=201, raw_body=UPLOAD_BODY, idempotent=True,
           errors=(400, 413, 415, 422, 503))
async def upload_image(call: Call[None, None]) -> UploadOut:
    uploads = call.services.uploads
    sent = await read_upload(call, uploads.limits.image)
    done, call.created = await uploads.upload_once(call.user_id, sent.data, MediaKind.IMAGE,
                                                   sent.filename, call.idempotency)
    return UploadOut(url=done.url)


@api.route("POST", "/api/v1/media/upload",
           summary="Upload an image, audio, video or any file; its kind is judged by its bytes, "
                   "and counts against your storage quota (413 quota_exceeded)", tags=TAGS,
           query=MediaUploadQuery, response=MediaOut, status=201,
           raw_body=upload_body("Any file: JPEG/PNG/WebP/GIF images, MP3/Ogg/WAV/FLAC/M4A "
                                "audio, MP4/WebM/MOV video, or anything else as a file"),
           idempotent=True, errors=(400, 413, 415, 422, 503))
async def upload_media(call: Call[None, MediaUploadQuery]) -> MediaOut:
    uploads = call.services.uploads
    only = MediaKind(call.query.kind) if call.query.kind else None
    limit = uploads.limits.of(only) if only else uploads.limits.largest
    sent = await read_upload(call, limit)
    done, call.created = await uploads.upload_once(call.user_id, sent.data, only,
                                                   sent.filename, call.idempotency)
    return MediaOut(url=done.url, name=name_of(done.url), kind=done.content.kind.value,
                    mime=done.content.mime, size=done.size, original_name=done.original_name)


@api.route("GET", "/api/v1/media",
           summary="Your own uploads, newest first (keyset-paged); nobody else's", tags=TAGS,
           query=MediaPageIn, response=MediaPageOut, errors=(422,))
async def list_media(call: Call[None, MediaPageIn]) -> MediaPageOut:
    q = call.query
    page = await call.services.uploads.page(
        call.user_id, decode_cursor(q.cursor) if q.cursor else None, q.limit)
    return MediaPageOut(items=[StoredMediaOut.of(u) for u in page.items],
                        next_cursor=encode_cursor(page.next) if page.next else None)


@api.route("DELETE", "/api/v1/media/{name}",
           summary="Delete one of your uploads (named as the list names it): the file is "
                   "removed from the store and its bytes count no more against your quota. "
                   "Someone else's, an unknown and an already deleted name are 404 alike; "
                   "503 when the store refused or no store in use holds it (nothing given "
                   "back), or at the deadline: the deletion, once begun, then finishes "
                   "without an answer, so list again to see it",
           tags=TAGS, status=204, errors=(404,))
async def delete_media(call: Call[None, None]) -> None:
    await call.services.uploads.delete(call.user_id, call.path("name"))


@api.route("GET", "/api/v1/media/usage",
           summary="Your storage: bytes used by your uploads, your quota, how many files",
           tags=TAGS, response=StorageOut)
async def media_usage(call: Call[None, None]) -> StorageOut:
    usage = await call.services.uploads.usage(call.user_id)
    return StorageOut(used_bytes=usage.used_bytes, quota_bytes=usage.quota_bytes,
                      files=usage.files)


@api.route("GET", "/media/{name}",
           summary="A locally stored upload: images, audio and video inline, any other file "
                   "as a download", tags=TAGS, auth=False,
           query=MediaQuery, errors=(400, 404, 416), uses_stores=False, also=(206,),
           raw_response={"description": "The file", "content": {"*/*": {}}})
async def get_media(call: Call[None, MediaQuery]) -> Response:
    name = call.path("name")
    found = call.services.local_media.find(name)
    if found is None:
        raise NotFoundError("No such file.", code="media_not_found")
    path, content = found
    headers = dict(MEDIA_HEADERS)
    if not content.inline:
        headers["Content-Disposition"] = attachment_header(
            download_name(name, content, call.query.name))
    stat = path.stat()
    response = FileResponse(path, media_type=content.mime, headers=headers, stat_result=stat)
    asked = call.request.headers.get("range")
    if asked is not None and range_applies(call.request.headers.get("if-range"),
                                           response.headers):
        refusal = judge_range(asked, stat.st_size)
        if refusal is RangeRefusal.MALFORMED:
            raise BadRequestError("The Range header is not a byte range (RFC 9110).",
                                  code="invalid_range")
        if refusal is RangeRefusal.UNSATISFIABLE:
            return error_response(416, "range_not_satisfiable",
                                  f"A range starts past the end of the file ({stat.st_size} "
                                  "bytes).",
                                  headers={"Content-Range": f"bytes */{stat.st_size}",
                                           "Content-Security-Policy":
                                               MEDIA_HEADERS["Content-Security-Policy"]})
    return response
