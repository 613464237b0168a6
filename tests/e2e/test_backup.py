"""Backup while Nirvana serves chat, restore into an empty data directory, and resume.

run.py in a subprocess, real WebSocket clients sending while `python -m nirvana.backup create`
runs; the restore goes into a new data directory and a second run.py serves it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.chat_client import Client
from tests.support.http import PASSWORD
from tests.support.running import ROOT, Running
from tests.support.running import run_env as _env


def _sign_up(url: str, name: str) -> dict:
    r = httpx.post(f"{url}/api/v1/user/signup",
                   json={"email": f"{name}@example.com", "password": PASSWORD, "name": name})
    assert r.status_code == 201, r.text
    return {"id": r.json()["user"]["id"], "jwt": r.json()["jwt"],
            "auth": {"Authorization": f"Bearer {r.json()['jwt']}"}}


def _befriend(url: str, a: dict, b: dict) -> None:
    assert httpx.post(f"{url}/api/v1/friends/requests/{b['id']}",
                      headers=a["auth"]).status_code < 300
    assert httpx.post(f"{url}/api/v1/friends/requests/{a['id']}/accept",
                      headers=b["auth"]).status_code < 300


def _history(url: str, who: dict, conversation: str) -> list[dict]:
    messages: list[dict] = []
    while True:
        r = httpx.get(f"{url}/api/v1/conversations/{conversation}/messages",
                      params={"after": messages[-1]["seq"] if messages else 0, "limit": 100},
                      headers=who["auth"])
        assert r.status_code == 200, r.text
        page = r.json()["messages"]
        if not page:
            return messages
        messages += page


async def _answer(client: Client, type_: str, **fields: object) -> dict:
    # Not Client.command: its 3 s wait is too short for a send on a loaded machine while the
    # chat store archives itself, and the sender's own events are of no interest here.
    request = f"{type_}-{fields.get('client_id', '')}-{time.monotonic_ns()}"
    await client.ws.send(json.dumps({"type": type_, "id": request, **fields}))
    while (event := await client.recv(timeout=30)).get("id") != request:
        pass
    return event


def _backup(data: Path, command: str, target: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nirvana.backup", command, str(target)],
                          cwd=ROOT, env=_env(data), capture_output=True, text=True, timeout=120)


@pytest.mark.slow
async def test_a_backup_under_chat_load_restores_every_acked_message_and_resumes_clients(
        tmp_path):
    data, backup, restored = tmp_path / "var", tmp_path / "backup", tmp_path / "restored"
    server = await asyncio.to_thread(Running, data)
    try:
        ann, bob = _sign_up(server.url, "ann"), _sign_up(server.url, "bob")
        _befriend(server.url, ann, bob)
        ws = server.url.replace("http://", "ws://") + "/ws"
        sender, reader = await Client.connect(ws, ann), await Client.connect(ws, bob)
        conversation = (await sender.command("open_direct", user_id=bob["id"]))[
            "conversation"]["id"]
        acked: list[tuple[float, int]] = []  # (when, seq)
        seen: list[tuple[float, int, int]] = []  # bob's live newMessage: (when, pos, seq)
        stop = asyncio.Event()

        async def send() -> None:
            i = 0
            while not stop.is_set():
                i += 1
                while True:  # the client's own retry: the same client_id until acked
                    answer = await _answer(sender, "send", conversation_id=conversation,
                                           client_id=f"c{i}", text=f"m{i}")
                    if answer["type"] == "ack":
                        break
                    # A loaded machine may let a write wait past store_timeout meanwhile.
                    assert answer["code"] in ("unavailable", "store_timeout",
                                              "rate_limited"), answer
                    await asyncio.sleep(answer.get("retry_after") or 0.2)
                acked.append((time.monotonic(), answer["message"]["seq"]))
                await asyncio.sleep(0.03)  # under the per-socket command rate

        async def read() -> None:
            while True:
                event = await reader.recv(timeout=30)
                if event["type"] == "newMessage":
                    seen.append((time.monotonic(), event["pos"], event["message"]["seq"]))

        sending, reading = asyncio.create_task(send()), asyncio.create_task(read())

        async def until(enough) -> None:
            deadline = time.monotonic() + 60
            while not enough():
                if sending.done():
                    sending.result()  # its failure, not a wait that never ends
                assert time.monotonic() < deadline, "the chat load stalled"
                await asyncio.sleep(0.05)

        await until(lambda: len(acked) >= 30)
        began = time.monotonic()
        made = await asyncio.to_thread(_backup, data, "create", backup)
        finished = time.monotonic()
        await until(lambda: len([a for a in acked if a[0] > finished]) >= 10)  # and after it
        stop.set()
        await sending
        reading.cancel()
        await sender.close(), await reader.close()
        assert made.returncode == 0, made.stderr
        assert len([a for a in acked if began < a[0] < finished]) > 0  # sent while it ran
    finally:
        code, _, err = await asyncio.to_thread(server.stop)
    assert code == 0, err

    done = await asyncio.to_thread(_backup, restored, "restore", backup)
    assert done.returncode == 0, done.stderr
    again = await asyncio.to_thread(_backup, restored, "restore", backup)
    assert again.returncode != 0 and "is not empty" in again.stderr  # never over data

    server = await asyncio.to_thread(Running, restored)
    try:
        history = _history(server.url, bob, conversation)  # the same secret: old tokens work
        seqs = [m["seq"] for m in history]
        assert seqs == list(range(1, len(seqs) + 1))  # gapless, each once
        acked_before = {seq for when, seq in acked if when < began}
        assert acked_before <= set(seqs)
        assert [m["text"] for m in history] == [f"m{s}" for s in seqs]

        # Bob resumes from the last position he saw before the backup began: the replay
        # brings every later message of the restored stream, each once, in order.
        _, last_pos, last_seq = max(s for s in seen if s[0] < began)
        ws = server.url.replace("http://", "ws://") + "/ws"
        bob_again = await Client.connect(ws, bob, since=last_pos)
        replayed = []
        while (event := await bob_again.recv(timeout=10))["type"] != "resumed":
            if event["type"] == "newMessage":
                replayed.append((event["pos"], event["message"]["seq"]))
        assert [seq for _, seq in replayed] == seqs[last_seq:]
        positions = [pos for pos, _ in replayed]
        assert positions == sorted(set(positions)) and all(p > last_pos for p in positions)

        # And the streams go on from where they were: the next message takes the next seq.
        ann_again = await Client.connect(ws, ann)
        answer = await ann_again.command("send", conversation_id=conversation,
                                         client_id="after", text="after the restore")
        assert answer["type"] == "ack" and answer["message"]["seq"] == len(seqs) + 1
        live = await bob_again.expect("newMessage", timeout=10)
        assert live["pos"] > max(positions, default=last_pos)
        await ann_again.close(), await bob_again.close()
    finally:
        code, _, err = await asyncio.to_thread(server.stop)
    assert code == 0, err
