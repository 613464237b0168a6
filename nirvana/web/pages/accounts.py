"""Account pages: sign up, sign in, sign out, forgot and reset password, settings.

Each form POST calls the same `Accounts` use case as its API route and answers 303 to the
next page, or the form again with the errors beside their fields.
"""

from __future__ import annotations

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...http.auth import ACCESS_COOKIE, REFRESH_COOKIE
from ...http.routes.users import client_ip, user_agent
from .. import domain
from ..forms import FormErrors, read_file, read_form, redirect, safe_next, upload_key
from ..session import reader_of, signed_in_user
from ..templating import pages_of

NOTICES = {
    "reset": "Your password is set. Sign in with it.",
    "password": "Your password is changed. Your other sessions have been signed out.",
    "profile": "Your profile is saved.",
    "avatar": "Your picture is saved.",
    "session": "That session is signed out.",
    "others": "Every other session is signed out.",
    "deleted": "Your account is deleted. Goodbye.",
    "verification": "The link is on its way: open it from your mail.",
    "email": "Your email is changed. Confirm it with the link we sent to it.",
}

# The fields each form shows with an error line beside it (FormErrors.of's `shown`).
SIGNUP_FIELDS = ("name", "email", "username", "password")
RESET_FIELDS = ("new_password", "confirm_password")
PROFILE_FIELDS = ("name", "username", "status", "about")
PASSWORD_FIELDS = ("current_password", "new_password", "confirm_password")
EMAIL_FIELDS = ("email", "email_password")


def services(request: Request):
    return request.app.state.services


async def render(request: Request, template: str, errors: FormErrors | None = None,
                 **context) -> Response:
    errors = errors or FormErrors()
    return await pages_of(request).render(
        request, template, {"errors": errors, "form": {}, "notice": None, **context},
        status=errors.status if errors else 200)


# -- sign up, sign in, sign out ----------------------------------------------------------

async def sign_up(request: Request) -> Response:
    next_url = safe_next(request.query_params.get("next"))
    if request.method == "GET":
        return await render(request, "accounts/signup.html", next_url=next_url)
    form = await read_form(request)
    try:
        session = await services(request).accounts.sign_up(
            form.get("email", ""), form.get("username") or None, form.get("name", ""),
            form.get("password", ""), client_ip(request), user_agent(request))
    except domain.DomainError as exc:
        return await render(request, "accounts/signup.html", FormErrors.of(exc, SIGNUP_FIELDS),
                            form=form, next_url=next_url)
    return await redirect(request, next_url, session)


async def sign_in(request: Request) -> Response:
    next_url = safe_next(request.query_params.get("next"))
    notice = NOTICES.get(request.query_params.get("done", ""))
    if request.method == "GET":
        return await render(request, "accounts/signin.html", next_url=next_url, notice=notice)
    form = await read_form(request)
    try:
        session = await services(request).accounts.sign_in(
            form.get("email", ""), form.get("password", ""), client_ip(request),
            user_agent(request))
    except domain.DomainError as exc:
        return await render(request, "accounts/signin.html", FormErrors.of(exc),
                            form={"email": form.get("email", "")}, next_url=next_url)
    if isinstance(session, domain.SignInChallenge):
        return await render(request, "accounts/signin_code.html", next_url=next_url,
                            challenge=session.token)
    return await redirect(request, next_url, session)


async def sign_in_code(request: Request) -> Response:
    """The second step of a two-factor sign-in: the challenge the password step rendered
    into the form, and a code. A wrong code shows the form again with the same challenge."""
    next_url = safe_next(request.query_params.get("next"))
    form = await read_form(request)
    challenge = form.get("challenge", "")
    try:
        session = await services(request).accounts.complete_sign_in(
            challenge, form.get("code", ""), client_ip(request), user_agent(request))
    except domain.DomainError as exc:
        if exc.code == "invalid_challenge":
            return await render(request, "accounts/signin.html", FormErrors.of(exc),
                                next_url=next_url)
        errors = FormErrors.of(exc)
        if exc.code == "invalid_code":
            errors.fields["code"] = "is wrong or was already used"
        return await render(request, "accounts/signin_code.html", errors,
                            next_url=next_url, challenge=challenge)
    return await redirect(request, next_url, session)


async def sign_out(request: Request) -> Response:
    await read_form(request)
    reader = await reader_of(request)
    claims = None
    token = request.cookies.get(ACCESS_COOKIE)
    if token:
        try:
            claims = services(request).accounts.authenticate(token)
        except domain.AuthenticationError:
            pass
    if reader.renewed is not None:  # renewed during this request: end the new session
        claims = services(request).accounts.authenticate(reader.renewed.access_token)
    await services(request).accounts.log_out(claims, request.cookies.get(REFRESH_COOKIE))
    return await redirect(request, "/", signed_out=True)


# -- forgotten password ------------------------------------------------------------------

async def forgot_password(request: Request) -> Response:
    if request.method == "GET":
        return await render(request, "accounts/forgot.html", sent=False)
    form = await read_form(request)
    accounts = services(request).accounts
    ip = client_ip(request)
    try:
        accounts.check_forgot_rate(ip)
    except domain.RateLimitedError as exc:
        return await render(request, "accounts/forgot.html", FormErrors.of(exc), form=form,
                            sent=False)
    response = await render(request, "accounts/forgot.html", sent=True,
                            form={"email": form.get("email", "")})
    # After the response, as the API does: its duration reveals nothing about the account.
    response.background = BackgroundTask(
        services(request).run_quietly,
        accounts.request_password_reset(form.get("email", ""), ip))
    return response


async def reset_password(request: Request) -> Response:
    token = request.query_params.get("token", "")
    if request.method == "GET":
        return await render(request, "accounts/reset.html", token=token)
    form = await read_form(request)
    token = form.get("token", "")
    errors = FormErrors()
    if form.get("new_password", "") != form.get("confirm_password", ""):
        errors = FormErrors(None, {"confirm_password": "does not match the new password"})
    else:
        try:
            await services(request).accounts.reset_password(token, form.get("new_password", ""))
        except domain.DomainError as exc:
            errors = FormErrors.of(exc, RESET_FIELDS)
            if "token" in errors.fields:
                errors.message = ("This reset link is invalid, used or expired. "
                                  "Ask for a new one.")
    if errors:
        return await render(request, "accounts/reset.html", errors, token=token)
    return await redirect(request, "/signin?done=reset", signed_out=True)


# -- settings ----------------------------------------------------------------------------

async def settings_page(request: Request, errors: FormErrors | None = None,
                        form: dict | None = None, password_errors: FormErrors | None = None,
                        avatar_errors: FormErrors | None = None,
                        email_errors: FormErrors | None = None) -> Response:
    user = await signed_in_user(request)
    # Re-read: the reader may be a cached copy from before a change in this request.
    user = await services(request).accounts.me(user.id)
    current = (await reader_of(request)).session_id
    status = max((e.status for e in (errors, password_errors, avatar_errors, email_errors)
                  if e),
                 default=200)
    return await pages_of(request).render(request, "accounts/settings.html", {
        "user": user,
        "form": form or {},
        "errors": errors or FormErrors(),
        "password_errors": password_errors or FormErrors(),
        "avatar_errors": avatar_errors or FormErrors(),
        "email_errors": email_errors or FormErrors(),
        "sessions": await services(request).accounts.list_sessions(user.id),
        "current_session": current,
        "notice": NOTICES.get(request.query_params.get("done", "")),
    }, status=status)


async def settings(request: Request) -> Response:
    return await settings_page(request)


async def save_profile(request: Request) -> Response:
    user = await signed_in_user(request)
    form = await read_form(request)
    changes = domain.ProfileChanges(
        name=form.get("name"), username=form.get("username"), about=form.get("about"),
        status=form.get("status"), clear_avatar=form.get("remove_avatar") == "1")
    try:
        updated = await services(request).accounts.update_profile(user.id, changes)
    except domain.DomainError as exc:
        return await settings_page(request, FormErrors.of(exc, PROFILE_FIELDS), form)
    await services(request).profile_changed(updated)
    return await redirect(request, "/settings?done=profile")


async def save_avatar(request: Request) -> Response:
    user = await signed_in_user(request)
    uploads = services(request).uploads
    try:
        sent = await read_file(request, "avatar", uploads.limits.image, keyed=True)
        # Once per rendered form: a double submit or a resend stores no second picture
        # (which would count against the quota with nothing pointing at it).
        url = (await uploads.upload_once(user.id, sent.data, domain.MediaKind.IMAGE,
                                         sent.filename, upload_key(request, sent)))[0].url
        updated = await services(request).accounts.update_profile(
            user.id, domain.ProfileChanges(avatar_url=url))
    except domain.IdempotencyKeyReusedError:
        # A page kept by Back, sent again with another file: the page comes back with a
        # new key (a file input cannot be refilled).
        return await settings_page(request, avatar_errors=FormErrors(
            "This form was already sent with another picture: pick it again to upload it.",
            status=409))
    except domain.DomainError as exc:
        errors = FormErrors.of(exc)
        errors.message = errors.message or "That picture could not be used."
        return await settings_page(request, avatar_errors=errors)
    await services(request).profile_changed(updated)
    return await redirect(request, "/settings?done=avatar")


async def change_password(request: Request) -> Response:
    user = await signed_in_user(request)
    form = await read_form(request)
    if form.get("new_password", "") != form.get("confirm_password", ""):
        return await settings_page(request, password_errors=FormErrors(
            None, {"confirm_password": "does not match the new password"}))
    try:
        session = await services(request).accounts.change_password(
            user.id, form.get("current_password", ""), form.get("new_password", ""),
            ip=client_ip(request), user_agent=user_agent(request))
    except domain.DomainError as exc:
        errors = FormErrors.of(exc, PASSWORD_FIELDS)
        if exc.code == "wrong_password":
            errors.fields["current_password"] = "is wrong"
            errors.status = 422
        return await settings_page(request, password_errors=errors)
    return await redirect(request, "/settings?done=password", session)


async def end_session(request: Request) -> Response:
    user = await signed_in_user(request)
    await read_form(request)
    session_id = request.path_params["session_id"]
    await services(request).accounts.end_session(user.id, session_id)
    if session_id == (await reader_of(request)).session_id:
        return await redirect(request, "/", signed_out=True)
    return await redirect(request, "/settings?done=session#sessions-title")


async def end_other_sessions(request: Request) -> Response:
    user = await signed_in_user(request)
    await read_form(request)
    current = (await reader_of(request)).session_id or ""
    await services(request).accounts.end_other_sessions(user.id, current)
    return await redirect(request, "/settings?done=others#sessions-title")


async def send_verification(request: Request) -> Response:
    user = await signed_in_user(request)
    await read_form(request)
    try:
        await services(request).accounts.send_verification(user.id)
    except domain.DomainError as exc:
        return await settings_page(request, email_errors=FormErrors.of(exc))
    return await redirect(request, "/settings?done=verification#email-title")


async def change_email(request: Request) -> Response:
    user = await signed_in_user(request)
    form = await read_form(request)
    try:
        await services(request).accounts.change_email(
            user.id, form.get("email_password", ""), form.get("email", ""))
    except domain.DomainError as exc:
        errors = FormErrors.of(exc, EMAIL_FIELDS)
        if exc.code == "wrong_password":
            errors.fields["email_password"] = "is wrong"
            errors.status = 422
        return await settings_page(request, email_errors=errors,
                                   form={"email": form.get("email", "")})
    return await redirect(request, "/settings?done=email#email-title")


async def verify_email(request: Request) -> Response:
    """The mailed link lands here. Idempotent, and needs no sign-in: the link may be opened
    on another device than the one that asked for it."""
    try:
        user = await services(request).accounts.verify_email(
            request.query_params.get("token", ""))
    except domain.DomainError:
        return await render(request, "accounts/verified.html", verified=None)
    return await render(request, "accounts/verified.html", verified=user)


async def delete_account(request: Request) -> Response:
    user = await signed_in_user(request)
    if request.method == "GET":
        return await render(request, "accounts/delete.html",
                            two_factor=await services(request).two_factor.status(user.id))
    form = await read_form(request)
    try:
        await services(request).accounts.delete_account(user.id, form.get("password", ""),
                                                        form.get("code") or None)
    except domain.DomainError as exc:
        errors = FormErrors.of(exc)
        if exc.code == "wrong_password":
            errors.fields["password"] = "is wrong"
            errors.message = "That is not your password: nothing was deleted."
            errors.status = 422
        elif exc.code in ("wrong_code", "two_factor_required"):
            errors.fields["code"] = "is wrong or was already used" if exc.code == "wrong_code" \
                else "is needed: two-factor sign-in is on"
            errors.message = "Nothing was deleted."
            errors.status = 422
        return await render(request, "accounts/delete.html", errors,
                            two_factor=await services(request).two_factor.status(user.id))
    return await redirect(request, "/signin?done=deleted", signed_out=True)


FORM = ["GET", "POST"]
routes = [
    Route("/signup", sign_up, methods=FORM),
    Route("/signin", sign_in, methods=FORM),
    Route("/signin/code", sign_in_code, methods=["POST"]),
    Route("/signout", sign_out, methods=["POST"]),
    Route("/forgot-password", forgot_password, methods=FORM),
    Route("/reset-password", reset_password, methods=FORM),
    Route("/settings", settings, methods=["GET"]),
    Route("/settings/profile", save_profile, methods=["POST"]),
    Route("/settings/avatar", save_avatar, methods=["POST"]),
    Route("/settings/password", change_password, methods=["POST"]),
    Route("/settings/delete", delete_account, methods=FORM),
    Route("/settings/email", change_email, methods=["POST"]),
    Route("/settings/email/verification", send_verification, methods=["POST"]),
    Route("/verify-email", verify_email, methods=["GET"]),
    Route("/settings/sessions/end-others", end_other_sessions, methods=["POST"]),
    Route("/settings/sessions/{session_id}/end", end_session, methods=["POST"]),
]
