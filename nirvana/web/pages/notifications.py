"""Notifications: the signed-in reader's list, marked read or deleted by plain forms (no
JavaScript needed), through the same `Notifications` service as the API routes."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import domain
from ..forms import read_form, redirect, safe_next
from ..session import signed_in_user
from ..templating import pages_of
from ...domain.ids import MAX_ID

PAGE = 30


def notifications(request: Request):
    return request.app.state.services.notifications


def notification_id(request: Request) -> int:
    value = request.path_params["id"]
    if value > MAX_ID:
        raise domain.NotFoundError("No such notification.", code="notification_not_found")
    return value


async def listing(request: Request) -> Response:
    me = (await signed_in_user(request)).id
    raw = request.query_params.get("after")
    after = domain.decode_notification_cursor(raw) if raw else None
    page = await notifications(request).page(me, after, PAGE)
    items = [domain.NotificationOut.of(n) for n in page.items]
    return await pages_of(request).render(request, "notifications.html", {
        "items": items,
        "next_url": "/notifications?after=" + domain.encode_notification_cursor(page.next)
        if page.next else None,
    })


async def mark_read(request: Request) -> Response:
    form = await read_form(request)
    me = (await signed_in_user(request)).id
    await notifications(request).mark_read(me, notification_id(request))
    # "Open" marks it read and goes to what it is about; "Mark read" stays on the list.
    return await redirect(request, safe_next(form.get("next"), "/notifications"))


async def mark_all_read(request: Request) -> Response:
    await read_form(request)
    await notifications(request).mark_all_read((await signed_in_user(request)).id)
    return await redirect(request, "/notifications")


async def delete(request: Request) -> Response:
    await read_form(request)
    me = (await signed_in_user(request)).id
    await notifications(request).delete(me, notification_id(request))
    return await redirect(request, "/notifications")


routes = [
    Route("/notifications", listing, methods=["GET", "HEAD"]),
    Route("/notifications/read", mark_all_read, methods=["POST"]),
    Route("/notifications/{id:int}/read", mark_read, methods=["POST"]),
    Route("/notifications/{id:int}/delete", delete, methods=["POST"]),
]
