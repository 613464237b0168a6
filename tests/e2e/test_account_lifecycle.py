"""Ending a session, or deleting the account, closes the sockets concerned at once."""

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


async def test_deleting_the_account_closes_every_one_of_its_sockets(live):
    ann = await sign_up(live.http)
    again = (await live.http.post("/api/v1/user/signin", json={
        "email": ann["user"]["email"], "password": PASSWORD})).json()
    live.http.cookies.clear()
    sockets = [await Client.connect(live.ws, {"id": ann["user"]["id"], "jwt": s["jwt"]})
               for s in (ann, again)]
    r = await live.http.request("DELETE", "/api/v1/user/me", json={"password": PASSWORD},
                                headers={"Authorization": f"Bearer {ann['jwt']}"})
    assert r.status_code == 204
    for socket in sockets:
        with pytest.raises(websockets.ConnectionClosed) as info:
            while True:
                await asyncio.wait_for(socket.recv(), 5)
        assert info.value.rcvd.code == 4001
    with pytest.raises(websockets.ConnectionClosed):
        socket = await Client.connect(live.ws, {"id": ann["user"]["id"], "jwt": again["jwt"]})
        await asyncio.wait_for(socket.recv(), 5)
