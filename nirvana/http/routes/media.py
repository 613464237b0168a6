"""Image upload (/api/v1/image/upload) and serving of locally stored media (/media/{name})."""

from __future__ import annotations

from starlette.responses import FileResponse, Response

from ...domain.errors import NotFoundError
from ..api import Api, Call
from ..multipart import read_file_field
from ..schemas.social import UploadOut

api = Api()
TAGS = ["images"]

# Names are random and content never changes under a name, so caches may keep it for good.
# nosniff and the sandboxing CSP stop a browser from treating an upload as a page or script.
MEDIA_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}

UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary",
                                        "description": "A JPEG, PNG, WebP or GIF image"}},
            }
        }
    },
}


@api.route("POST", "/api/v1/image/upload",
           summary="Upload an image (JPEG, PNG, WebP or GIF, judged by its bytes)", tags=TAGS,
           response=UploadOut, status=201, raw_body=UPLOAD_BODY,
           errors=(400, 413, 415, 422, 503))
async def upload_image(call: Call[None, None]) -> UploadOut:
    images = call.services.images
    data = await read_file_field(call.request, "file", images.max_bytes)
    return UploadOut(url=await images.upload(data))


@api.route("GET", "/media/{name}", summary="A locally stored image", tags=TAGS, auth=False,
           errors=(404,), uses_stores=False, raw_response={"description": "The image",
                                        "content": {"image/*": {}}})
async def get_media(call: Call[None, None]) -> Response:
    found = call.services.local_media.find(call.path("name"))
    if found is None:
        raise NotFoundError("No such image.", code="media_not_found")
    path, image = found
    return FileResponse(path, media_type=image.mime, headers=MEDIA_HEADERS)
