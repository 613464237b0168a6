"""Writing: the editor for a new or existing blog, drafts and publishing, the preview the
editor's script asks for, the stale-edit choice (reload or overwrite), and deleting.

The editor is a plain form that works without JavaScript; static/js/editor.js adds the live
preview, picking or dropping images to upload, and place suggestions.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from .. import domain
from ..forms import FormErrors, form_key, read_form, redirect
from ..markdown import render_markdown
from ..session import signed_in_user
from ..templating import blog_path, pages_of
from .reading import blog_id

IMAGE_RE = re.compile(r"!\[[^\]]*\]\(\s*(/media/[^\s)]+|https?://[^\s)]+)")
MAX_IMAGES = 10
# The fields the editor shows with an error line beside them (FormErrors.of's `shown`).
EDITOR_FIELDS = ("title", "summary", "body", "header_image", "tags", "city", "country",
                 "published_at")


def blogs(request: Request):
    return request.app.state.services.blogs


def form_of(blog: domain.Blog | None) -> dict[str, str]:
    if blog is None:
        return {}
    return {
        "title": blog.title, "summary": blog.summary, "body": blog.body,
        "tags": ", ".join(blog.tags), "header_image": blog.header_image or "",
        "city": blog.location.city if blog.location else "",
        "country": blog.location.country if blog.location else "",
        "updated_at": blog.updated_at.isoformat(),
        "audience": blog.audience.value,
        "published_at": blog.published_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M")
        if blog.status is domain.BlogStatus.SCHEDULED and blog.published_at else "",
    }


STATUSES = {"draft": domain.BlogStatus.DRAFT, "scheduled": domain.BlogStatus.SCHEDULED}


def audience_of(form: dict[str, str]) -> domain.Audience:
    try:
        return domain.Audience(form.get("audience") or "public")
    except ValueError:
        raise domain.InvalidInputError(
            "Choose who can read it.",
            details=[{"field": "audience", "code": "invalid",
                      "message": "must be one of the choices"}]) from None


def publish_at_of(form: dict[str, str]) -> datetime | None:
    """The editor's "publish at" (a datetime-local field, read as UTC), when scheduling."""
    raw = form.get("published_at", "").strip()
    if form.get("status") != "scheduled" or not raw:
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise domain.InvalidInputError(
            "Give the date and time to publish at.",
            details=[{"field": "published_at", "code": "invalid",
                      "message": "must be a date and time"}]) from None
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at


def fields_of(form: dict[str, str]) -> domain.BlogFields:
    city, country = form.get("city", "").strip(), form.get("country", "").strip()
    if bool(city) != bool(country):
        missing = "country" if city else "city"
        raise domain.InvalidInputError(
            "Give both the city and the country, or neither.",
            details=[{"field": missing, "code": "required", "message": "is needed too"}])
    body = form.get("body", "")
    images = tuple(dict.fromkeys(IMAGE_RE.findall(body)))[:MAX_IMAGES]
    return domain.BlogFields(
        title=form.get("title", "").strip(), body=body, summary=form.get("summary", "").strip(),
        header_image=form.get("header_image", "").strip() or None, images=images,
        tags=tuple(t.strip() for t in form.get("tags", "").split(",") if t.strip()),
        place=domain.Place(city, country) if city else None,
        status=STATUSES.get(form.get("status", ""), domain.BlogStatus.PUBLISHED),
        publish_at=publish_at_of(form), audience=audience_of(form))


async def editor(request: Request, *, blog: domain.Blog | None, form: dict[str, str],
                 errors: FormErrors | None = None, conflict: domain.Blog | None = None
                 ) -> Response:
    errors = errors or FormErrors()
    status = 409 if conflict is not None else (errors.status if errors else 200)
    return await pages_of(request).render(request, "editor.html", {
        "blog": blog, "form": form, "errors": errors, "conflict": conflict,
        "preview": render_markdown(form.get("body", "")),
    }, status=status)


async def new_blog(request: Request) -> Response:
    user = await signed_in_user(request)
    if request.method == "GET":
        return await editor(request, blog=None, form={})
    form = await read_form(request)
    try:
        # A form posted again (double click, reload, retry) lands on the blog it made.
        blog, _ = await blogs(request).create_once(user.id, fields_of(form),
                                                   form_key(request, form))
    except domain.IdempotencyKeyReusedError:
        return await editor(request, blog=None, form=form, errors=FormErrors.resent("blog"))
    except domain.DomainError as exc:
        return await editor(request, blog=None, form=form, errors=FormErrors.of(exc, EDITOR_FIELDS))
    return await redirect(request, blog_path(blog))


async def edit_blog(request: Request) -> Response:
    user = await signed_in_user(request)
    blog = await blogs(request).get(blog_id(request), user.id)
    if blog.author.id != user.id:
        raise domain.PermissionDeniedError("Only the author can change this blog.",
                                           code="not_blog_author")
    if request.method == "GET":
        return await editor(request, blog=blog, form=form_of(blog))
    form = await read_form(request)
    try:
        fields = fields_of(form)
        seen = datetime.fromisoformat(form.get("updated_at", ""))
        changes = domain.BlogChanges(
            title=fields.title, body=fields.body, summary=fields.summary,
            header_image=fields.header_image, images=fields.images, tags=fields.tags,
            place=fields.place, status=fields.status, publish_at=fields.publish_at,
            audience=fields.audience,
            clear_header_image=fields.header_image is None, clear_place=fields.place is None)
        saved = await blogs(request).update(blog.id, user.id, changes, seen)
    except ValueError:
        return await editor(request, blog=blog, form=form,
                            errors=FormErrors("Reload the editor and try again."))
    except domain.ConflictError as exc:
        if exc.code != "stale_update":
            raise
        current = await blogs(request).get(blog.id, user.id)
        # The choice: overwrite (the form again, now naming the current version) or reload.
        return await editor(request, blog=current,
                            form={**form, "updated_at": current.updated_at.isoformat()},
                            conflict=current)
    except domain.DomainError as exc:
        return await editor(request, blog=blog, form=form, errors=FormErrors.of(exc, EDITOR_FIELDS))
    return await redirect(request, blog_path(saved))


async def delete_blog(request: Request) -> Response:
    user = await signed_in_user(request)
    blog = await blogs(request).get(blog_id(request), user.id)
    if request.method == "GET":
        return await pages_of(request).render(request, "delete.html", {"blog": blog})
    await read_form(request)
    await blogs(request).delete(blog.id, user.id)
    return await redirect(request, f"/people/{user.id}?done=deleted")


async def preview(request: Request) -> Response:
    """The editor script's live preview: the body as the blog page will show it. Asked by
    script (not for text/html), so a signed-out caller gets the API's JSON 401, not a page."""
    await signed_in_user(request)
    form = await read_form(request)
    return HTMLResponse(render_markdown(form.get("body", "")),
                        headers={"Cache-Control": "no-store"})


routes = [
    Route("/write", new_blog, methods=["GET", "POST"]),
    Route("/write/preview", preview, methods=["POST"]),
    Route("/blogs/{id:int}/edit", edit_blog, methods=["GET", "POST"]),
    Route("/blogs/{id:int}/delete", delete_blog, methods=["GET", "POST"]),
]
