"""Settings → Security: two-factor sign-in turned on (a secret for the app, then a code),
off (password and code), and new recovery codes, through the same `TwoFactorSettings` as
the API routes. Recovery codes are shown once, in the answer to the form that made them."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import domain
from ..forms import FormErrors, read_form, redirect
from ..session import signed_in_user
from ..templating import pages_of

NOTICES = {"off": "Two-factor sign-in is off. Your password alone signs you in."}


def two_factor(request: Request):
    return request.app.state.services.two_factor


async def _page(request: Request, user: domain.User, errors: FormErrors | None = None,
                **context) -> Response:
    errors = errors or FormErrors()
    secret_shown = bool(context.get("setup") or context.get("recovery_codes"))
    return await pages_of(request).render(request, "accounts/security.html", {
        "status": await two_factor(request).status(user.id),
        "errors": errors, "setup": None, "recovery_codes": None, "form": {},
        "notice": NOTICES.get(request.query_params.get("done", "")), **context,
    }, status=errors.status if errors else 200,
        # A secret or recovery codes on the page: kept by no cache, not even the browser's.
        headers={"Cache-Control": "no-store"} if secret_shown else None)


def _errors(exc: domain.DomainError) -> FormErrors:
    errors = FormErrors.of(exc)
    if exc.code == "wrong_password":
        errors.fields["password"] = "is wrong"
        errors.status = 422
    elif exc.code in ("wrong_code", "two_factor_required"):
        errors.fields["code"] = "is wrong or was already used"
        errors.status = 422
    return errors


async def security(request: Request) -> Response:
    user = await signed_in_user(request)
    return await _page(request, user,
                       setup=await two_factor(request).pending_setup(user.id, user.email))


async def set_up(request: Request) -> Response:
    user = await signed_in_user(request)
    form = await read_form(request)
    try:
        setup = await two_factor(request).set_up(user.id, form.get("password", ""))
    except domain.DomainError as exc:
        return await _page(request, user, _errors(exc))
    return await _page(request, user, setup=setup)


async def confirm(request: Request) -> Response:
    user = await signed_in_user(request)
    form = await read_form(request)
    try:
        codes = await two_factor(request).confirm(user.id, form.get("code", ""))
    except domain.DomainError as exc:
        return await _page(request, user, _errors(exc),
                           setup=await two_factor(request).pending_setup(user.id, user.email))
    return await _page(request, user, recovery_codes=codes)


async def disable(request: Request) -> Response:
    user = await signed_in_user(request)
    form = await read_form(request)
    try:
        await two_factor(request).disable(user.id, form.get("password", ""),
                                          form.get("code", ""))
    except domain.DomainError as exc:
        return await _page(request, user, _errors(exc))
    return await redirect(request, "/settings/security?done=off")


async def new_recovery_codes(request: Request) -> Response:
    user = await signed_in_user(request)
    form = await read_form(request)
    try:
        codes = await two_factor(request).new_recovery_codes(
            user.id, form.get("password", ""), form.get("code", ""))
    except domain.DomainError as exc:
        return await _page(request, user, _errors(exc))
    return await _page(request, user, recovery_codes=codes)


routes = [
    Route("/settings/security", security, methods=["GET"]),
    Route("/settings/security/setup", set_up, methods=["POST"]),
    Route("/settings/security/confirm", confirm, methods=["POST"]),
    Route("/settings/security/disable", disable, methods=["POST"]),
    Route("/settings/security/recovery-codes", new_recovery_codes, methods=["POST"]),
]
