"""Ending a session from another device closes that session's sockets at once."""

from __future__ import annotations

import asyncio

import pytest
import websockets

from tests.support.chat_client import Client
from tests.support.http import PASSWORD, sign_up


async def test_ending_a_session_elsewhere_closes_its_socket_and_spares_the_others(live):
    phone = await sign_up(live.http)
    laptop = (await live.http.post("/api/v1/user/signin", json={
        "email": phone["user"]["email"], "password": PASSWORD})).json()
    live.http.cookies.clear()
    on_phone = await Client.connect(live.ws, {"id": phone["user"]["id"], "jwt": phone["jwt"]})
    on_laptop = await Client.connect(live.ws, {"id": phone["user"]["id"],
                                               "jwt": laptop["jwt"]})
    sid = await live.http.get("/api/v1/user/sessions",
                              headers={"Authorization": f"Bearer {laptop['jwt']}"})
    phone_sid = next(s["id"] for s in sid.json()["sessions"] if not s["current"])
    r = await live.http.delete(f"/api/v1/user/sessions/{phone_sid}",
                               headers={"Authorization": f"Bearer {laptop['jwt']}"})
    assert r.status_code == 204
    with pytest.raises(websockets.ConnectionClosed) as info:
        while True:
            await asyncio.wait_for(on_phone.recv(), 5)
    assert info.value.rcvd.code == 4001 and info.value.rcvd.reason == "session revoked"
    pong = await on_laptop.command("ping")
    assert pong["type"] == "pong"
    await on_laptop.close()
