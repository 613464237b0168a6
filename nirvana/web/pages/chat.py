"""The chat page: a shell the JavaScript client fills over the WebSocket (chat needs script).

The page hands the script only what it cannot learn on its own: who is signed in and when
their access cookie expires, so the protocol client renews it before the socket is closed
for expiry. No token ever reaches script: the socket authenticates with the httpOnly cookie.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...http.auth import ACCESS_COOKIE
from ..session import Reader, signed_in
from ..templating import pages_of


def _access_expiry_ms(request: Request, reader: Reader) -> int:
    if reader.renewed is not None:
        return int(reader.renewed.access_expires_at.timestamp() * 1000)
    token = request.cookies.get(ACCESS_COOKIE, "")
    claims = request.app.state.services.accounts.authenticate(token)
    return claims.expires_at * 1000


async def chat(request: Request) -> Response:
    reader = await signed_in(request)
    return await pages_of(request).render(request, "chat.html", {
        "me": reader.user, "token_expires_ms": _access_expiry_ms(request, reader),
    })


routes = [Route("/chat", chat, methods=["GET", "HEAD"])]
