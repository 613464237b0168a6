"""Your files: the signed-in user's uploads, newest first and paged, each deleted after a
confirm step; the same Uploads service as GET and DELETE /api/v1/media."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...domain.uploads import StoredUpload, Uploads
from .. import domain
from ..forms import read_form, redirect, safe_next
from ..session import signed_in_user
from ..templating import pages_of

FILES_PAGE = 20
FILES_ON_PROFILE = 10


def uploads(request: Request) -> Uploads:
    return request.app.state.services.uploads


async def files_of(request: Request, user_id: int, cursor: str | None,
                   limit: int) -> tuple[list[StoredUpload], str | None]:
    """A page of the user's files, and the URL of the next page (/files) or None."""
    after = domain.decode_upload_cursor(cursor) if cursor else None
    page = await uploads(request).page(user_id, after, limit)
    more = ("/files?" + urlencode({"cursor": domain.encode_upload_cursor(page.next)})
            if page.next else None)
    return page.items, more


async def files(request: Request) -> Response:
    user = await signed_in_user(request)
    items, more = await files_of(request, user.id, request.query_params.get("cursor") or None,
                                 FILES_PAGE)
    return await pages_of(request).render(request, "files/list.html", {
        "files": items, "more_files_url": more,
        "storage": await uploads(request).usage(user.id),
        "back": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    })


async def delete_file(request: Request) -> Response:
    user = await signed_in_user(request)
    name = request.path_params["name"]
    if request.method in ("GET", "HEAD"):
        url = await uploads(request).url_of(user.id, name)  # 404 unless it is yours
        return await pages_of(request).render(request, "files/delete.html", {
            "name": name, "url": url, "action": f"/files/{quote(name, safe='')}/delete",
            "back": safe_next(request.query_params.get("next"), f"/people/{user.id}#files"),
        })
    form = await read_form(request)
    await uploads(request).delete(user.id, name)
    return await redirect(request, safe_next(form.get("next"), f"/people/{user.id}#files"))


routes = [
    Route("/files", files, methods=["GET", "HEAD"]),
    Route("/files/{name}/delete", delete_file, methods=["GET", "HEAD", "POST"]),
]
