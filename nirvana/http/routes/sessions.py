"""The signed-in user's sessions: /api/v1/user/sessions (list, end one, end all others).

Ending a session revokes its refresh tokens and its access tokens at once, and its open
WebSockets close within a second (ws/session_watch.py), as logout does.
"""

from __future__ import annotations

from ..api import Api, Call
from ..schemas.users import DeviceSessionOut, DeviceSessionsOut, SessionsEndedOut

api = Api()
TAGS = ["account"]


def _current(call: Call) -> str:
    assert call.claims is not None  # these routes require authentication
    return call.claims.session_id


@api.route("GET", "/api/v1/user/sessions",
           summary="Your open sessions (signed-in devices), most recently used first",
           tags=TAGS, response=DeviceSessionsOut)
async def list_sessions(call: Call[None, None]) -> DeviceSessionsOut:
    current = _current(call)
    sessions = await call.services.accounts.list_sessions(call.user_id)
    return DeviceSessionsOut(sessions=[
        DeviceSessionOut(id=s.id, device=s.device, ip=s.ip, created_at=s.created_at,
                         last_used_at=s.last_used_at, current=s.id == current)
        for s in sessions])


@api.route("POST", "/api/v1/user/sessions/end-others",
           summary="End every session but this one; their sockets close at once",
           tags=TAGS, response=SessionsEndedOut, errors=(403,))
async def end_other_sessions(call: Call[None, None]) -> SessionsEndedOut:
    ended = await call.services.accounts.end_other_sessions(call.user_id, _current(call))
    return SessionsEndedOut(ended=ended)


@api.route("DELETE", "/api/v1/user/sessions/{id}",
           summary="End one of your sessions (this one too: then it is a logout); its "
                   "sockets close at once", tags=TAGS, status=204, errors=(403, 404))
async def end_session(call: Call[None, None]) -> None:
    await call.services.accounts.end_session(call.user_id, call.path("id"))
