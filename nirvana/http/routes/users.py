"""Account routes: /api/v1/user/*."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from ...domain.accounts.sessions import Session
from ...domain.accounts.two_factor import SignInChallenge
from ...domain.errors import AuthenticationError
from ...domain.accounts.users import ProfileChanges, User
from ..api import Api, Call, JsonResponse
from ..auth import ACCESS_COOKIE, REFRESH_COOKIE
from ..schemas.users import (
    AcceptedOut,
    ChangePasswordIn,
    DeleteAccountIn,
    ForgotPasswordIn,
    LogoutIn,
    ProfilePatchIn,
    RefreshIn,
    ResetPasswordIn,
    SessionOut,
    SignInIn,
    SignUpIn,
    UserOut,
)
from ..schemas.two_factor import SignInCodeIn, SignInOut, TwoFactorChallengeOut

api = Api()
TAGS = ["account"]
# The whole site: the web pages renew an expired access cookie with it (nirvana/web/session.py).
# SameSite=Strict keeps it off every request that another site starts.
REFRESH_COOKIE_PATH = "/"


class BodyOfUser:
    """A user's JSON, made once per version of the user. The user cache hands out the same
    (frozen) object until a write replaces it, so "same object" is an exact test of "same
    data"; a user read from the database is a new object and simply misses. Spares GET /me
    pydantic's model build and serialisation per request (docs/performance.md). At most
    `size` users are kept, the oldest dropped first."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._bodies: dict[int, tuple[User, bytes]] = {}

    def __call__(self, user: User) -> bytes:
        kept = self._bodies.get(user.id)
        if kept is not None and kept[0] is user:
            return kept[1]
        body = UserOut.of(user).model_dump_json().encode()
        self._bodies.pop(user.id, None)
        if len(self._bodies) >= self._size:
            del self._bodies[next(iter(self._bodies))]
        self._bodies[user.id] = (user, body)
        return body


body_of_user = BodyOfUser()


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def user_agent(request: Request) -> str:
    return request.headers.get("user-agent", "")[:512]


def session_response(request: Request, session: Session, status: int = 200) -> Response:
    body = SessionOut(
        jwt=session.access_token,
        expires_at=session.access_expires_at,
        refresh_token=session.refresh_token,
        refresh_expires_at=session.refresh_expires_at,
        user=UserOut.of(session.user),
    )
    response = JsonResponse(body.model_dump_json(), status_code=status)
    return set_session_cookies(request, response, session)


# Each session cookie's SameSite and Path. Its clearing carries the same attributes as its
# setting (and HttpOnly, Secure over https), so it names the same cookie and no scanner
# flags a weaker one.
SESSION_COOKIES = {ACCESS_COOKIE: ("lax", "/"), REFRESH_COOKIE: ("strict", REFRESH_COOKIE_PATH)}


def _attributes(request: Request, name: str) -> dict[str, Any]:
    samesite, path = SESSION_COOKIES[name]
    return {"httponly": True, "secure": request.url.scheme == "https", "samesite": samesite,
            "path": path}


def set_session_cookies(request: Request, response: Response, session: Session) -> Response:
    now = datetime.now(timezone.utc)
    for name, token, expires_at in (
            (ACCESS_COOKIE, session.access_token, session.access_expires_at),
            (REFRESH_COOKIE, session.refresh_token, session.refresh_expires_at)):
        response.set_cookie(name, token, max_age=max(0, int((expires_at - now).total_seconds())),
                            **_attributes(request, name))
    return response


def clear_cookies(request: Request, response: Response) -> Response:
    for name in SESSION_COOKIES:
        response.delete_cookie(name, **_attributes(request, name))
    return response


def refresh_token_of(call: Call) -> str | None:
    if call.body is not None and call.body.refresh_token:
        return call.body.refresh_token
    token = call.request.cookies.get(REFRESH_COOKIE)
    if token:
        call.services.authenticator.check_cookie_origin(call.request)
    return token


@api.route("POST", "/api/v1/user/signup", summary="Create an account and sign in",
           tags=TAGS, body=SignUpIn, response=SessionOut, status=201, auth=False,
           errors=(409, 429))
async def sign_up(call: Call[SignUpIn, None]) -> Response:
    b = call.body
    session = await call.services.accounts.sign_up(b.email, b.username, b.name, b.password,
                                                   client_ip(call.request),
                                                   user_agent(call.request))
    return session_response(call.request, session, 201)


@api.route("POST", "/api/v1/user/signin",
           summary="Sign in with email and password; with two-factor sign-in on, the "
                   "answer is a challenge for POST /api/v1/user/signin/two-factor",
           tags=TAGS, body=SignInIn, response=SignInOut, auth=False, errors=(401, 429))
async def sign_in(call: Call[SignInIn, None]) -> Response:
    result = await call.services.accounts.sign_in(
        call.body.email, call.body.password, client_ip(call.request), user_agent(call.request)
    )
    if isinstance(result, SignInChallenge):
        body = TwoFactorChallengeOut(challenge=result.token, expires_at=result.expires_at)
        return JsonResponse(body.model_dump_json())
    return session_response(call.request, result)


@api.route("POST", "/api/v1/user/signin/two-factor",
           summary="Finish a two-factor sign-in: the challenge and a code of your app (or a "
                   "recovery code)", tags=TAGS, body=SignInCodeIn, response=SessionOut,
           auth=False, errors=(401, 429))
async def sign_in_with_code(call: Call[SignInCodeIn, None]) -> Response:
    session = await call.services.accounts.complete_sign_in(
        call.body.challenge, call.body.code, client_ip(call.request), user_agent(call.request))
    return session_response(call.request, session)


@api.route("POST", "/api/v1/user/refresh",
           summary="Rotate a refresh token into a new session (the old one is then spent)",
           tags=TAGS, body=RefreshIn, response=SessionOut, auth=False, errors=(401, 403))
async def refresh(call: Call[RefreshIn, None]) -> Response:
    token = refresh_token_of(call)
    if not token:
        raise AuthenticationError("Send a refresh_token.", code="invalid_refresh_token")
    session = await call.services.accounts.refresh(token)
    return session_response(call.request, session)


@api.route("POST", "/api/v1/user/logout",
           summary="End this session: revoke its refresh tokens and clear the cookies",
           tags=TAGS, body=LogoutIn, auth="optional", status=204, errors=(403,))
async def log_out(call: Call[LogoutIn, None]) -> Response:
    await call.services.accounts.log_out(call.claims, refresh_token_of(call))
    return clear_cookies(call.request, Response(status_code=204))


@api.route("GET", "/api/v1/user/me", summary="The signed-in user", tags=TAGS,
           response=UserOut)
async def me(call: Call[None, None]) -> Response:
    return JsonResponse(body_of_user(await call.services.accounts.me(call.user_id)))


@api.route("PATCH", "/api/v1/user/me",
           summary="Change your name, username, about, avatar or status", tags=TAGS,
           body=ProfilePatchIn, response=UserOut, errors=(403, 409))
async def update_me(call: Call[ProfilePatchIn, None]) -> UserOut:
    b = call.body
    sent = b.model_fields_set
    changes = ProfileChanges(
        name=b.name,
        username=b.username,
        about=b.about,
        avatar_url=b.avatar,
        status=b.status,
        clear_avatar="avatar" in sent and b.avatar is None,
    )
    user = await call.services.accounts.update_profile(call.user_id, changes)
    await call.services.profile_changed(user)
    return UserOut.of(user)


@api.route("DELETE", "/api/v1/user/me",
           summary="Delete your account, confirmed by your password (and a two-factor "
                   "code when that is on): at once and for everyone (docs/accounts.md "
                   "says what remains)", tags=TAGS,
           body=DeleteAccountIn, status=204, errors=(403, 429))
async def delete_me(call: Call[DeleteAccountIn, None]) -> Response:
    await call.services.accounts.delete_account(call.user_id, call.body.password,
                                                call.body.code)
    return clear_cookies(call.request, Response(status_code=204))


@api.route("POST", "/api/v1/user/password",
           summary="Change your password; ends every other session, returns a new one",
           tags=TAGS, body=ChangePasswordIn, response=SessionOut, errors=(403, 429))
async def change_password(call: Call[ChangePasswordIn, None]) -> Response:
    session = await call.services.accounts.change_password(
        call.user_id, call.body.current_password, call.body.new_password,
        ip=client_ip(call.request), user_agent=user_agent(call.request),
    )
    return session_response(call.request, session)


@api.route("POST", "/api/v1/user/password/forgot",
           summary="Mail a single-use reset link; answers the same whether or not the "
                   "account exists", tags=TAGS, body=ForgotPasswordIn, response=AcceptedOut,
           status=202, auth=False, errors=(429,))
async def forgot_password(call: Call[ForgotPasswordIn, None]) -> Response:
    accounts = call.services.accounts
    ip = client_ip(call.request)
    # The per-IP limit answers 429 now; the rest runs after the response so that its
    # duration (lookup, mail) reveals nothing about whether the account exists.
    accounts.check_forgot_rate(ip)
    body = AcceptedOut(message="If an account has this email, a reset link is on its way.")
    return JsonResponse(
        body.model_dump_json(),
        status_code=202,
        background=BackgroundTask(call.services.run_quietly,
                                  accounts.request_password_reset(call.body.email, ip)),
    )


@api.route("POST", "/api/v1/user/password/reset",
           summary="Set a new password with a reset token; ends every session", tags=TAGS,
           body=ResetPasswordIn, status=204, auth=False)
async def reset_password(call: Call[ResetPasswordIn, None]) -> None:
    await call.services.accounts.reset_password(call.body.token, call.body.new_password)
