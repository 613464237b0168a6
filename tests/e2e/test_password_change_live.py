"""A password change or reset ends every session that existed before it, also one signed in
earlier in the same second: its token is refused over HTTP and its socket closes 4001."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta, timezone

import pytest
import websockets

from tests.support.chat_client import WAIT, Client
from tests.support.clock import FakeClock
from tests.support.http import PASSWORD, bearer, mails, sign_up


def _mid_second(ahead: float = 0.0) -> datetime:
    return (datetime.now(timezone.utc) + timedelta(seconds=ahead)).replace(microsecond=500_000)


@pytest.fixture
def services_clock() -> FakeClock:
    # Time stands still in the middle of a second: every token here is issued in the second
    # of the change, which the wall clock would make so only by luck. Its expiry (15 minutes
    # on) stays ahead of the session watch's wall clock.
    return FakeClock(_mid_second())


async def _signed_in_twice(live) -> tuple[dict, dict, Client]:
    """The account's first session, a second one started this same second, and a socket on
    the second."""
    first = await sign_up(live.http)
    second = (await live.http.post("/api/v1/user/signin", json={
        "email": first["user"]["email"], "password": PASSWORD})).json()
    live.http.cookies.clear()
    socket = await Client.connect(live.ws, {"id": first["user"]["id"], "jwt": second["jwt"]})
    return first, second, socket


async def _assert_ended(live, session: dict, socket: Client) -> None:
    r = await live.http.get("/api/v1/user/me", headers=bearer(session))
    assert r.status_code == 401 and r.json()["error"]["code"] == "session_revoked"
    with pytest.raises(websockets.ConnectionClosed) as info:
        while True:
            await socket.recv()
    assert info.value.rcvd.code == 4001 and info.value.rcvd.reason == "session revoked"


async def test_a_password_change_ends_a_session_started_the_same_second(live):
    first, second, socket = await _signed_in_twice(live)
    r = await live.http.post("/api/v1/user/password", headers=bearer(first), json={
        "current_password": PASSWORD, "new_password": "a new password"})
    assert r.status_code == 200
    await _assert_ended(live, second, socket)
    # The caller's own session ends too: it goes on as the new one the change answered.
    r_old = await live.http.get("/api/v1/user/me", headers=bearer(first))
    assert r_old.status_code == 401 and r_old.json()["error"]["code"] == "session_revoked"
    assert (await live.http.get("/api/v1/user/me", headers=bearer(r.json()))).status_code == 200


async def _reset_token(outbox, to: str, clock: FakeClock) -> str:
    """The token of the reset mail to `to`: it goes out through the outbox a moment after
    forgot-password answered (docs/mail.md), once `clock` is past the database's now() it
    was stamped due at, however long getting here took."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while loop.time() < deadline:
        clock.current = max(clock.current, _mid_second(ahead=2))
        for recipient, body in mails(outbox) if outbox.exists() else []:
            found = re.search(r"reset-password\?token=(\S+)", body)
            if recipient == to and found:
                return found.group(1)
        await asyncio.sleep(0.02)
    raise AssertionError(f"no reset mail to {to}")


async def test_a_password_reset_ends_a_session_started_the_same_second(live, settings,
                                                                     services_clock):
    clock = services_clock
    email = (await sign_up(live.http))["user"]["email"]
    r = await live.http.post("/api/v1/user/password/forgot", json={"email": email})
    assert r.status_code == 202
    token = await _reset_token(settings.data_dir / "outbox", email, clock)
    clock.current = _mid_second(ahead=4)
    first = (await live.http.post("/api/v1/user/signin", json={
        "email": email, "password": PASSWORD})).json()
    second = (await live.http.post("/api/v1/user/signin", json={
        "email": email, "password": PASSWORD})).json()
    live.http.cookies.clear()
    socket = await Client.connect(live.ws, {"id": first["user"]["id"], "jwt": second["jwt"]})
    r = await live.http.post("/api/v1/user/password/reset", json={
        "token": token, "new_password": "a new password"})
    assert r.status_code == 204
    await _assert_ended(live, second, socket)
    r = await live.http.get("/api/v1/user/me", headers=bearer(first))
    assert r.status_code == 401 and r.json()["error"]["code"] == "session_revoked"
