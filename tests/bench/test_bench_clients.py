"""The benchmark's own clients against a real server: what `make bench` reports rests on
them (the loop-lag probe, and sessions that outlive the 15-minute access token)."""

from __future__ import annotations

import asyncio
import time

from bench.lag_probe import LagProbe
from bench.nirvana_chat import http, sign_up
from bench.ws_clients import NirvanaAdapter


async def test_the_lag_probe_reports_ping_round_trips_by_time(live):
    adapter = NirvanaAdapter(live.base)
    await adapter.ensure_users(1, sign_up)
    probe = LagProbe(live.ws.removesuffix("/ws"), adapter.users[0].token)
    started = time.monotonic()
    await probe.start()
    try:
        while len(probe.samples(started, time.monotonic())) < 10:
            assert time.monotonic() - started < 20, "the probe measured nothing"
            await asyncio.sleep(0.05)
    finally:
        await probe.stop()
    lag = probe.samples(started, time.monotonic())
    assert all(0 < ms < 5000 for ms in lag)
    assert probe.samples(time.monotonic() + 1, time.monotonic() + 2) == []


async def test_stale_sessions_are_renewed_through_the_refresh_token(live):
    adapter = NirvanaAdapter(live.base)
    await adapter.ensure_users(2, sign_up)
    old, kept = adapter.users[0], adapter.users[1]
    old_token, old_refresh, kept_token = old.token, old.refresh_token, kept.token
    old.issued -= 600
    assert await adapter.renew_tokens(300, http) == 1
    assert old.token != old_token and old.refresh_token != old_refresh
    assert kept.token == kept_token
    me = await live.http.get("/api/v1/user/me",
                             headers={"Authorization": f"Bearer {old.token}"})
    assert me.status_code == 200 and me.json()["id"] == old.id
    again = await live.http.post("/api/v1/user/refresh", json={"refresh_token": old_refresh})
    assert again.status_code == 401  # rotated: the old refresh token is spent
