"""Who is calling: a Bearer token or the httpOnly `jwt` cookie, and CSRF for the cookie."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from ..domain.accounts.service import Accounts
from ..domain.errors import AuthenticationError, PermissionDeniedError
from ..domain.accounts.ports import AccessClaims

ACCESS_COOKIE = "jwt"
REFRESH_COOKIE = "refresh_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def origin_allowed(conn: HTTPConnection, allowed: tuple[str, ...]) -> bool:
    origin = conn.headers.get("origin")
    if origin is None:
        referer = conn.headers.get("referer")
        if referer is None:
            return False
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    return origin.rstrip("/") in allowed


class Authenticator:
    def __init__(self, accounts: Accounts, allowed_origins: tuple[str, ...]) -> None:
        self._accounts = accounts
        self.allowed_origins = allowed_origins

    def __call__(self, conn: HTTPConnection) -> AccessClaims | None:
        """The caller's claims; None when no credentials were sent; raises on bad ones."""
        header = conn.headers.get("authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthenticationError(
                    "Use 'Authorization: Bearer <token>'.", code="invalid_token"
                )
            return self._accounts.authenticate(token.strip())
        token = conn.cookies.get(ACCESS_COOKIE)
        if not token:
            return None
        self.check_cookie_origin(conn)
        return self._accounts.authenticate(token)

    def check_cookie_origin(self, conn: HTTPConnection) -> None:
        # A browser attaches cookies to cross-site requests; Origin says who sent them.
        method = conn.scope.get("method", "GET")
        is_websocket = conn.scope["type"] == "websocket"
        if (is_websocket or method not in SAFE_METHODS) and not origin_allowed(
            conn, self.allowed_origins
        ):
            raise PermissionDeniedError(
                "Cookie-authenticated requests must come from an allowed Origin.",
                code="origin_not_allowed",
            )
