"""The benchmark's own clients against a real server: what `make bench` reports rests on
them (the loop-lag probe, sessions that outlive the 15-minute access token, and the timing
of `delivered` marks)."""

from __future__ import annotations

import asyncio
import time

from bench.lag_probe import LagProbe
from bench.nirvana_chat import http, sign_up
from bench.servers import python_server
from bench.ws_clients import FanoutAdapter, NirvanaAdapter
from tests.support.chat_client import Client


async def test_the_lag_probe_reports_ping_round_trips_by_time(live):
    adapter = NirvanaAdapter(live.base)
    await adapter.ensure_users(1, sign_up)
    probe = LagProbe(live.ws.removesuffix("/ws"), adapter.users[0].token)
    lag = await _ten_samples(probe)
    assert all(0 < ms < 5000 for ms in lag)
    assert probe.samples(time.monotonic() + 1, time.monotonic() + 2) == []


async def test_the_lag_probe_without_a_token_probes_the_fanout_floor(tmp_path):
    # The floor runs the same probe as Nirvana (bench/fanout_ceiling.py): no account, no
    # hello, a room of its own; its pings must still be answered and reported.
    floor = python_server("fanout", "bench.ceilings.fanout", tmp_path)
    floor.start()
    try:
        lag = await _ten_samples(LagProbe(FanoutAdapter(floor.url).ws_url, None))
    finally:
        floor.stop()
    assert all(0 < ms < 5000 for ms in lag)


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


async def test_a_member_of_two_conversations_pairs_each_mark_with_its_own_answer(live):
    adapter = NirvanaAdapter(live.base, room_size=2, receipts=True)
    await adapter.ensure_users(3, sign_up)
    await adapter.build_rooms(2, http)  # users 0 and 1
    first, member, second = adapter.users

    def auth(user):
        return {"Authorization": f"Bearer {user.token}"}

    await live.http.post(f"/api/v1/friends/requests/{member.id}", headers=auth(second))
    await live.http.post(f"/api/v1/friends/requests/{second.id}/accept", headers=auth(member))
    made = await live.http.post("/api/v1/conversations", headers=auth(second), json={
        "kind": "group", "name": "second", "member_ids": [member.id]})
    assert made.status_code == 201, made.text
    conn = await adapter.connect(1, lambda key: None)
    probe = await Client.connect(live.ws, {"jwt": member.token})  # the member's other device
    try:
        # Both messages reach the socket before it reads either, so the second mark is sent
        # before the first one's answer comes back: the two marks are outstanding together.
        assert conn.ws is not None and conn.ws.transport is not None
        conn.ws.transport.pause_reading()
        seqs = set()
        for sender, conversation in ((first, adapter.conversations[0]),
                                     (second, made.json()["id"])):
            sent = await live.http.post(f"/api/v1/conversations/{conversation}/messages",
                                        headers=auth(sender), json={"text": "hi"})
            assert sent.status_code == 201, sent.text
            seqs.add(sent.json()["seq"])
            await probe.expect("newMessage")
        assert len(seqs) == 1  # the same seq in both: only the conversation tells them apart
        conn.ws.transport.resume_reading()
        deadline = time.monotonic() + 20
        while adapter.frames["ack"] + adapter.frames["error"] < 2:
            assert time.monotonic() < deadline, f"marks unanswered: {adapter.frames}"
            await asyncio.sleep(0.05)
    finally:
        await probe.close()
        await conn.close()
    assert adapter.receipts_sent == 2 and adapter.errors == {}
    assert len(adapter.mark_answers) == 2


async def _ten_samples(probe: LagProbe) -> list[float]:
    """Runs the probe until it has reported ten pings (20 s at most) and returns what it
    reported since its start."""
    started = time.monotonic()
    await probe.start()
    try:
        while len(probe.samples(started, time.monotonic())) < 10:
            assert time.monotonic() - started < 20, "the probe measured nothing"
            await asyncio.sleep(0.05)
    finally:
        await probe.stop()
    return probe.samples(started, time.monotonic())
