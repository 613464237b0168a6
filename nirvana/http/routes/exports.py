"""The signed-in user's data exports: /api/v1/user/exports* (docs/accounts.md).

An export is built in the background (nirvana/export_worker.py); its owner is told by a
notification and a mail, and only they can download it, until it expires.
"""

from __future__ import annotations

from starlette.responses import FileResponse, Response

from ...domain.errors import NotFoundError
from ..api import Api, Call, JsonResponse
from ..schemas.exports import ExportOut, ExportsOut

api = Api()
TAGS = ["account"]

ARCHIVE_RESPONSE = {
    "description": "The archive: a zip of JSON files and your uploads",
    "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
}


@api.route("POST", "/api/v1/user/exports",
           summary="Ask for an archive of your data, built in the background (3 a day); an "
                   "export already waiting is answered instead of a new one", tags=TAGS,
           response=ExportOut, status=202, errors=(403, 429))
async def request_export(call: Call[None, None]) -> Response:
    job = await call.services.exports.request(call.user_id)
    return JsonResponse(ExportOut.of(job).model_dump_json(), status_code=202)


@api.route("GET", "/api/v1/user/exports", summary="Your recent exports, newest first",
           tags=TAGS, response=ExportsOut)
async def list_exports(call: Call[None, None]) -> ExportsOut:
    jobs = await call.services.exports.list(call.user_id)
    return ExportsOut(exports=[ExportOut.of(j) for j in jobs])


@api.route("GET", "/api/v1/user/exports/{id}/archive",
           summary="Download one of your ready exports (another user's is 404)", tags=TAGS,
           raw_response=ARCHIVE_RESPONSE, errors=(404,))
async def download_export(call: Call[None, None]) -> Response:
    job = await call.services.exports.downloadable(call.user_id, call.path("id"))
    path = call.services.export_archives.path(job.id)
    if path is None:
        raise NotFoundError("This export has expired: ask for a new one.",
                            code="export_expired")
    stamp = job.requested_at.strftime("%Y%m%d")
    return FileResponse(path, media_type="application/zip",
                        filename=f"nirvana-export-{stamp}.zip",
                        headers={"Cache-Control": "private, no-store"})
