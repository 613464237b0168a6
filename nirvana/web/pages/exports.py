"""Settings → Your data: ask for an export and download the ready ones, through the same
`Exports` service as the API routes (the archive itself is served by the API route)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import domain
from ..forms import FormErrors, read_form, redirect
from ..session import signed_in_user
from ..templating import pages_of

NOTICES = {"asked": "Your export is being built. We will tell you here and by mail when it "
                    "is ready."}


async def _page(request: Request, user: domain.User,
                errors: FormErrors | None = None) -> Response:
    errors = errors or FormErrors()
    exports = await request.app.state.services.exports.list(user.id)
    notice = NOTICES.get(request.query_params.get("done", ""))
    if exports and exports[0].state.value not in ("pending", "building"):
        notice = None  # the page reloaded once it was built: its row says so
    return await pages_of(request).render(request, "accounts/export.html", {
        "exports": exports, "errors": errors, "notice": notice,
    }, status=errors.status if errors else 200)


async def export_page(request: Request) -> Response:
    user = await signed_in_user(request)
    if request.method == "GET":
        return await _page(request, user)
    await read_form(request)
    try:
        await request.app.state.services.exports.request(user.id)
    except domain.DomainError as exc:
        return await _page(request, user, FormErrors.of(exc))
    return await redirect(request, "/settings/export?done=asked")


routes = [
    Route("/settings/export", export_page, methods=["GET", "POST"]),
]
