"""Who is reading a page: the httpOnly cookies the API sets, read by the same Accounts.

A page never sees a token in script. The access cookie (`jwt`, SameSite=Lax) names the
reader; when it has expired, the refresh cookie (SameSite=Strict) is rotated into a new
session on the spot and both cookies are set again on the page's response, exactly as
POST /api/v1/user/refresh would. Every form POST passes the API's Origin check first.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from ..domain.errors import AuthenticationError
from ..http.auth import ACCESS_COOKIE, REFRESH_COOKIE
from ..http.methods import SAFE_METHODS
from ..http.routes.users import clear_cookies, set_session_cookies
from ..http.write_limit import take_write
from . import domain


@dataclass(slots=True)
class Reader:
    """The signed-in user of a page (None: anonymous) and a renewed session to hand back."""

    user: "domain.User | None" = None
    renewed: "domain.Session | None" = None
    signed_out: bool = False  # cookies were present but no longer name a session
    session_id: str | None = None  # the reader's session (the settings page marks it)

    @property
    def id(self) -> int | None:
        return self.user.id if self.user is not None else None

    def finish(self, request: Request, response: Response) -> Response:
        """Put the renewed session's cookies (or the clearing of dead ones) on `response`."""
        if self.renewed is not None:
            set_session_cookies(request, response, self.renewed)
        elif self.signed_out:
            clear_cookies(request, response)
        return response


async def reader_of(request: Request) -> Reader:
    cached = request.scope.get("state", {}).get("web_reader")
    if cached is not None:
        return cached
    reader = await _read(request)
    state = request.scope.setdefault("state", {})
    state["web_reader"] = reader
    state["user_id"] = reader.id  # for the access log, as the API's routes set it
    limiter = request.app.state.services.write_limiter
    if reader.user is not None and request.method not in SAFE_METHODS and limiter is not None:
        take_write(limiter, reader.user.id)  # a form post is a write like the API's
    return reader


async def signed_in(request: Request) -> Reader:
    """The page's reader, who must be signed in: an anonymous one is sent to sign in (the
    error table answers AuthenticationError)."""
    reader = await reader_of(request)
    if reader.user is None:
        raise AuthenticationError()
    return reader


async def signed_in_user(request: Request) -> "domain.User":
    user = (await signed_in(request)).user
    assert user is not None  # signed_in refused an anonymous reader
    return user


async def _read(request: Request) -> Reader:
    accounts = request.app.state.services.accounts
    token = request.cookies.get(ACCESS_COOKIE)
    if token:
        try:
            claims = accounts.authenticate(token)
            return Reader(user=await accounts.me(claims.user_id),
                          session_id=claims.session_id)
        except AuthenticationError:
            pass
    refresh = request.cookies.get(REFRESH_COOKIE)
    if not refresh:
        return Reader(signed_out=bool(token))
    try:
        session = await accounts.refresh(refresh)
    except AuthenticationError as exc:
        # Two tabs renewing at once: the other one's response carries the new cookies.
        return Reader(signed_out=exc.code != "refresh_token_rotated")
    return Reader(user=session.user, renewed=session, session_id=session.session_id)


def check_origin(request: Request) -> None:
    """The API's CSRF rule for every page form: the POST must come from an allowed Origin."""
    # The page does not name the expected address (a misconfigured one may be the backend's);
    # the server's log does, once per refused origin.
    request.app.state.services.authenticator.check_origin(
        request, "This form was sent from another site, or from an address this server is "
                 "not set up for; open the page here and try again. If it keeps happening, "
                 "tell the site's operator: the server's log names the address it expects.")
