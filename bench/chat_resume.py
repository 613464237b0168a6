"""Resume after a restart, measured through Nirvana's documented protocol: every client's
position learned, messages sent over HTTP while nobody is connected, the server restarted on
the same data, then every client reconnected and resumed from its position (docs/protocol.md,
"Resume algorithm") until it has each message or the timeout passes."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import traceback
from typing import Any

from .context import Context
from .nirvana_chat import Result, http, sign_up
from .report import Row, Target, skipped_row, spread_of, summarize
from .servers import Nirvana
from .ws_clients import NirvanaAdapter


async def _offline_and_send(adapter: NirvanaAdapter, clients: int, per_room: int,
                            repetition: int) -> tuple[list[int], dict[int, set[str]]]:
    """Connect every client once to learn its position, disconnect all, then send
    `per_room` messages to every room over HTTP while nobody is connected. Keys are new in
    every repetition: a send that reuses a client_id is a retry, and stores nothing."""
    gate = asyncio.Semaphore(100)

    async def position(i: int) -> int:
        async with gate:
            conn = await adapter.connect(i, lambda key: None)
            pos = conn.last_pos
            await conn.close()
            return pos

    positions = list(await asyncio.gather(*(position(i) for i in range(clients))))
    expected: dict[int, set[str]] = {i: set() for i in range(clients)}

    async def send(room: int, k: int) -> None:
        sender = adapter.users[room * adapter.room_size + k % adapter.room_size]
        key = f"resume:{repetition}:{room}:{k}"
        async with gate:
            status, answer = await http(
                adapter.url, "POST", f"/api/v1/conversations/{adapter.conversations[room]}"
                f"/messages", json.dumps({"client_id": f"{adapter.nonce}|{key}",
                                          "text": "while you were away"}).encode(),
                {"Authorization": f"Bearer {sender.token}", "Content-Type": "application/json"})
        if status not in (200, 201):
            raise RuntimeError(f"send while offline answered {status}: {answer[:200]!r}")
        for member in range(room * adapter.room_size, (room + 1) * adapter.room_size):
            expected[member].add(key)

    rooms = clients // adapter.room_size
    await asyncio.gather(*(send(r, k) for r in range(rooms) for k in range(per_room)))
    return positions, expected


async def _catch_up(adapter: NirvanaAdapter, positions: list[int],
                    expected: dict[int, set[str]], timeout: float) -> dict[str, Any]:
    """Reconnect every client and resume it from its position; until each has every
    expected message or `timeout` passes. What a client lacks then is counted as lost."""
    received: dict[int, list[str]] = {i: [] for i in range(len(positions))}
    gate = asyncio.Semaphore(100)
    answers: dict[str, int] = {}
    start = time.perf_counter()
    conns = []

    async def one(i: int) -> float:
        async with gate:
            conn = await adapter.connect(i, received[i].append)
        conns.append(conn)
        for attempt in itertools.count():
            answer = await conn.request({"type": "resume", "id": f"resume-{i}-{attempt}",
                                         "since": positions[i]}, timeout)
            kind = answer["type"] if answer["type"] != "error" else answer.get("code")
            answers[kind] = answers.get(kind, 0) + 1
            # As docs/protocol.md tells a client: a store that is down or slow is retried.
            if kind not in ("unavailable", "store_timeout"):
                break
            await asyncio.sleep(float(answer.get("retry_after") or 1))
        while not expected[i] <= set(received[i]):
            await asyncio.sleep(0.02)
        return time.perf_counter() - start

    tasks = [asyncio.create_task(one(i)) for i in received]
    try:
        done, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    finally:
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
    failed = [t.exception() for t in done if t.exception() is not None]
    if failed:
        raise failed[0]
    lost = sum(len(expected[i] - set(received[i])) for i in received)
    twice = sum(len(received[i]) - len(set(received[i])) for i in received)
    return {"caught_up_s": max(t.result() for t in done) if not pending else None,
            "clients_caught_up": len(done), "lost": lost, "twice": twice, "answers": answers,
            "expected": sum(len(e) for e in expected.values())}


def resume(ctx: Context, server: Nirvana, adapter: NirvanaAdapter,
           per_room: int = 5, timeout: float = 120) -> tuple[dict[str, Any], list[Row], Nirvana]:
    clients = len(adapter.conversations) * adapter.room_size
    runs = []
    adapter.retried = 0
    for repetition in range(ctx.options.repetitions):
        positions, expected = asyncio.run(_offline_and_send(adapter, clients, per_room,
                                                            repetition))
        stopped = time.perf_counter()
        server = ctx.restart("nirvana")  # the same data directory: a restart, not a reset
        adapter.url, adapter.ws_url = server.url, server.url.replace("http://", "ws://", 1)
        restart_s = time.perf_counter() - stopped
        run = asyncio.run(_catch_up(adapter, positions, expected, timeout))
        run["restart_s"] = restart_s
        runs.append(run)
    # A run that did not finish counts as the whole timeout.
    caught = summarize([timeout if r["caught_up_s"] is None else r["caught_up_s"]
                        for r in runs])
    unfinished = [r["clients_caught_up"] for r in runs if r["caught_up_s"] is None]
    lost = sum(r["lost"] for r in runs)
    twice = sum(r["twice"] for r in runs)
    answers: dict[str, int] = {}  # over every run: an `unavailable` in any one matters
    for run in runs:
        for kind, n in run["answers"].items():
            answers[kind] = answers.get(kind, 0) + n
    return {"clients": clients, "per_room": per_room, "runs": runs}, [Row(
        f"resume after restart: {clients:,} clients caught up (< 10 s, nothing lost or twice)",
        caught["median"], "s", target=Target("<", 10, on="value"), spread=spread_of(caught),
        note=(f"{len(unfinished)} of {len(runs)} runs did not finish within {timeout:g} s "
              f"(clients caught up: {unfinished}); " if unfinished else "")
             + f"from the restarted server's /ready; {per_room} messages waiting per room; "
             f"lost {lost}, twice {twice}; answers over the runs {answers}; connects retried "
             f"after 1013: "
             f"{adapter.retried}; restart took "
             f"{summarize([r['restart_s'] for r in runs])['median']:.1f} s"
             + ("; LOSS OR DUPLICATES" if lost or twice else ""))], server


def measure_resume(ctx: Context) -> Result:
    """The resume part on its own (`--only resume`): the chat users and rooms, then
    `resume`. Separate from `measure` so it can be rerun without the load steps."""
    server = ctx.server("nirvana")
    assert isinstance(server, Nirvana)
    adapter = NirvanaAdapter(server.url)
    clients = ctx.options.clients - ctx.options.clients % adapter.room_size
    asyncio.run(adapter.ensure_users(clients, sign_up))
    asyncio.run(adapter.build_rooms(clients, http))
    try:
        raw, rows, _ = resume(ctx, server, adapter)
    except Exception as exc:
        traceback.print_exc()  # the run goes on; the log keeps where it failed
        return ({"error": f"{type(exc).__name__}: {exc}"},
                [skipped_row("resume after restart", f"error: {type(exc).__name__}: {exc}")])
    return raw, rows
