"""Who is calling: a Bearer token or the httpOnly `jwt` cookie, and CSRF for the cookie."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from ..domain.accounts.service import Accounts
from ..domain.clock import Clock
from ..domain.errors import AuthenticationError, PermissionDeniedError
from ..domain.accounts.ports import AccessClaims
from .methods import SAFE_METHODS

ACCESS_COOKIE = "jwt"
REFRESH_COOKIE = "refresh_token"
# Distinct refused origins logged per period; any Origin can be sent, so the log stays
# bounded, and a new period lets a later misconfiguration be told after junk filled the last.
REFUSED_ORIGINS_LOGGED = 20
REFUSED_ORIGINS_PERIOD = timedelta(hours=1)

log = logging.getLogger("nirvana.http")


def sender_origin(conn: HTTPConnection) -> str | None:
    """The origin of the page that sent the request: its Origin, else its Referer's."""
    origin = conn.headers.get("origin")
    if origin is None:
        referer = conn.headers.get("referer")
        if referer is None:
            return None
        try:
            parts = urlsplit(referer)
        except ValueError:  # `http://[x/`: anyone can send it; no origin, so refused
            return None
        origin = f"{parts.scheme}://{parts.netloc}"
    return origin.rstrip("/")


class RefusedOrigins:
    """Warns once per distinct refused origin, naming what was expected: the usual cause is
    a proxy's public address missing from the allowed origins (PUBLIC_URL unset), which
    otherwise shows only as 403s. At most `limit` origins are told per `period`, then that no
    more are until the next."""

    def __init__(self, allowed: tuple[str, ...], public_url: str | None, clock: Clock,
                 limit: int = REFUSED_ORIGINS_LOGGED,
                 period: timedelta = REFUSED_ORIGINS_PERIOD) -> None:
        self._allowed = allowed
        self._public_url = public_url
        self._clock = clock
        self._limit = limit
        self._period = period
        self._told: set[str | None] = set()
        self._since: datetime | None = None

    def tell(self, origin: str | None) -> None:
        now = self._clock.now()
        if self._since is None or now - self._since >= self._period:
            self._told.clear()
            self._since = now
        if origin in self._told or len(self._told) > self._limit:
            return
        self._told.add(origin)
        if len(self._told) > self._limit:
            log.warning("origin check: more refused origins, not logged (at most %d per %d s)",
                        self._limit, self._period.total_seconds())
            return
        log.warning(
            "origin check: refused a write (form, cookie-authenticated API call or WebSocket) "
            "from %s; allowed: %s (PUBLIC_URL %s). Behind a proxy, set PUBLIC_URL to the "
            "address browsers use (docs/security.md)",
            "no Origin or usable Referer" if origin is None else repr(origin[:200]),
            ", ".join(self._allowed),
            self._public_url or "unset")


class Authenticator:
    def __init__(self, accounts: Accounts, allowed_origins: tuple[str, ...],
                 public_url: str | None, clock: Clock) -> None:
        self._accounts = accounts
        self.allowed_origins = allowed_origins
        self._refused = RefusedOrigins(allowed_origins, public_url, clock)

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
        if conn.scope["type"] == "websocket" or method not in SAFE_METHODS:
            self.check_origin(conn, "Cookie-authenticated requests must come from an allowed "
                                    "Origin.")

    def check_origin(self, conn: HTTPConnection, message: str) -> None:
        """Raises `origin_not_allowed` with `message` unless an allowed origin sent `conn`."""
        origin = sender_origin(conn)
        if origin not in self.allowed_origins:
            self._refused.tell(origin)
            raise PermissionDeniedError(message, code="origin_not_allowed")
