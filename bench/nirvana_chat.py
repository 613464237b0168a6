"""Nirvana's chat, measured through its documented protocol (docs/protocol.md) with
`ws_clients.NirvanaAdapter`: throughput and latency in open-loop steps, recent history and
idle authenticated connections (resume after a restart is bench/chat_resume.py). Each part
is independent: one that fails is reported as such and the others still run."""

from __future__ import annotations

import asyncio
import math
import time
import traceback
from typing import Any, Callable

from . import wrk
from .accounts import session
from .context import Context
from .lag_probe import LagProbe
from .probe import request
from .report import Row, Target, median_steps, percentile, skipped_row, spread_of, summarize
from .seed_peer import SeedPeer, SocketIOAdapter, ensure_node
from .servers import Nirvana
from .ws_clients import NirvanaAdapter, hold_idle
from .ws_load import Load

Result = tuple[dict[str, Any], list[Row]]


async def sign_up(url: str, email: str, source: str | None = None) -> tuple[int, str, str]:
    """accounts.session for a chat user: (user id, access token, refresh token)."""
    return await session(url, email, source, name="Bench Chat")


async def http(url: str, method: str, path: str, body: bytes,
               headers: dict[str, str]) -> tuple[int, bytes]:
    return await request(url, method, path, body, headers)


# -- throughput and latency -----------------------------------------------------------------------

STEP_KEYS = ("delivered_per_s", "p50_ms", "p99_ms", "loop_lag_p99_ms", "server_cpu_us_per_delivery",
             "db_cpu_us_per_delivery", "server_core_wait_ms_per_s", "lost", "duplicates",
             "generator_cpu_share", "offered_deliveries_per_s")


WARM_UP_STEP = 9  # the warm-up's step number in a pass's block of ten (its steps are 0-3)


async def _pass(server: Nirvana | SeedPeer, adapter: NirvanaAdapter | SocketIOAdapter,
                clients: int, steps: list[float], duration: float,
                first_step: int, lag_probe: bool = True) -> list[dict[str, Any]]:
    load = Load(adapter, clients)
    await load.connect()
    out = []
    # An account of its own, in no conversation: nothing is pushed to the probe's socket.
    # The seed peer has no probe: uvicorn's ping answer is what the probe measures.
    # The floor's passes run the same probe (bench/fanout_ceiling.py); `lag_probe=False`
    # leaves it out, so `bench.ab_chat --no-probe` can measure its share of the CPU.
    probe = (LagProbe(adapter.ws_url, adapter.users[clients].token)
             if lag_probe and isinstance(adapter, NirvanaAdapter) else None)
    if probe is not None:
        await probe.start()
    try:
        assert len(steps) < WARM_UP_STEP, "step numbers are the sends' client_ids"
        warm_up = await load.warm_up(first_step + WARM_UP_STEP, steps[0])
        for i, rate in enumerate(steps):
            before, waited = server.cpu_breakdown(), server.core_wait_seconds()
            started = time.monotonic()
            step = await load.step(first_step + i, rate, duration, drain=3.0)
            ended = time.monotonic()
            lag = probe.samples(started, ended) if probe is not None else []
            step["loop_lag_p99_ms"] = percentile(lag, 99) if lag else None
            step["loop_lag_samples"] = len(lag)
            # Why the loop lagged: how long Nirvana was ready to run but waited for its core.
            step["server_core_wait_ms_per_s"] = ((server.core_wait_seconds() - waited) * 1000
                                                 / (ended - started))
            after = server.cpu_breakdown()
            n = max(1, step["deliveries"])
            step["server_cpu_us_per_delivery"] = (after["server"] - before["server"]) * 1e6 / n
            step["db_cpu_us_per_delivery"] = sum(after[k] - before[k]
                                                 for k in ("mongo", "postgres")) * 1e6 / n
            out.append(step)
        out[0]["warm_up"] = warm_up
    finally:
        if probe is not None:
            await probe.stop()
        await load.close()
    return out


def _core_wait(step: dict[str, Any]) -> str:
    """The lag row's note on the core wait; nothing where the kernel keeps no scheduler
    statistics (the wait then reads 0)."""
    wait = step.get("server_core_wait_ms_per_s") or 0.0
    if wait <= 0:
        return ""
    return f"; Nirvana waited {wait:.0f} ms per second for its core, which its databases share"


def _use(adapter: NirvanaAdapter, server: Nirvana) -> None:
    adapter.url, adapter.ws_url = server.url, server.url.replace("http://", "ws://", 1)


def throughput(ctx: Context, server: Nirvana, adapter: NirvanaAdapter) -> Result:
    o = ctx.options
    # The seed peer's passes alternate with Nirvana's (N P N P …), so a machine that drifts
    # during the run moves both alike.
    peer, why_no_peer = _seed_peer(ctx)
    passes, peer_passes = [], []
    for r in range(o.repetitions):
        passes.append(asyncio.run(_pass(server, adapter, o.clients, o.steps, o.duration,
                                        100 * r)))
        if peer is not None:
            try:
                peer_passes.append(asyncio.run(_pass(
                    peer, SocketIOAdapter(peer.url, adapter.room_size), o.clients, o.steps,
                    o.duration, 2000 + 100 * r)))
            except Exception as exc:  # Nirvana's numbers are still reported
                traceback.print_exc()
                why_no_peer = f"a pass failed: {type(exc).__name__}: {exc}"
                peer = None
    ctx.stop("seed-peer")
    # The same steps with persistence off: the same server but for the insert.
    off_passes: list[list[dict[str, Any]]] = []
    off_error = ""
    try:
        volatile = ctx.restart_nirvana(persistence=False)
        _use(adapter, volatile)
        off_passes = [asyncio.run(_pass(volatile, adapter, o.clients, o.steps, o.duration,
                                        1000 + 100 * r)) for r in range(o.repetitions)]
    except Exception as exc:  # the persistence-on numbers are still reported
        traceback.print_exc()
        off_error = f"{type(exc).__name__}: {exc}"
    finally:
        server = ctx.restart_nirvana(persistence=True)
        _use(adapter, server)
    fan_steps = {s["offered_sends_per_s"]: s for s in getattr(ctx, "fanout_steps", [])}
    floor = getattr(ctx, "fanout_floor", None)
    steps, rows = median_steps(passes, o.steps, STEP_KEYS), []
    for step in steps:
        rate, summary = step["offered_sends_per_s"], step["summary"]
        ceiling = fan_steps.get(rate)
        saturated = (step["generator_cpu_share"] or 0) > 0.9
        rows.append(Row(
            f"chat: {rate:g} sends/s → {step['offered_deliveries_per_s']:,.0f} deliveries/s "
            f"offered, delivered/s", step["delivered_per_s"], "/s",
            ceiling["delivered_per_s"] if ceiling else None, "fan-out ceiling, same step",
            note=f"p50 {step['p50_ms']:.1f} ms, p99 {step['p99_ms']:.1f} ms, "
                 f"lost {step['lost']:.0f}, twice {step['duplicates']:.0f}"
                 + ("; LOAD GENERATOR SATURATED" if saturated else ""),
            spread=spread_of(summary["delivered_per_s"])))
        # The issue's latency targets are set at 5,000 and 20,000 deliveries/s.
        offered = step["offered_deliveries_per_s"]
        p99_limit = {5000: 2.0, 20000: 10.0}.get(round(offered))
        if p99_limit is not None:
            rows.append(Row(f"chat: end-to-end p99 at {offered:,.0f} deliveries/s (ms)",
                            step["p99_ms"], "ms", target=Target("<=", p99_limit, on="value"),
                            note="send → every recipient, from the send's scheduled time",
                            spread=spread_of(summary["p99_ms"])))
            rows.append(Row(f"chat: event-loop lag p99 at {offered:,.0f} deliveries/s (ms)",
                            step["loop_lag_p99_ms"], "ms", target=Target("<=", 5, on="value"),
                            note="WebSocket ping round trip every 10 ms during the step "
                                 "(an upper bound of the loop's lag)" + _core_wait(step),
                            spread=spread_of(summary["loop_lag_p99_ms"])))
    peer_steps = _peer_rows(steps, peer_passes, why_no_peer, rows, o.steps)
    store_rate = getattr(ctx, "store_batched", None)
    if off_error:
        rows.append(skipped_row("chat: persistence on vs off", f"the persistence-off pass "
                                f"failed: {off_error}"))
    for i, rate in enumerate(o.steps):
        if not off_passes:
            break
        on = steps[i]["delivered_per_s"]
        off = summarize([p[i]["delivered_per_s"] for p in off_passes])["median"]
        off_p99 = summarize([p[i]["p99_ms"] for p in off_passes
                             if p[i]["p99_ms"] is not None])["median"]
        steps[i]["persistence_off"] = {"delivered_per_s": off, "p99_ms": off_p99,
                                       "runs": [p[i] for p in off_passes]}
        within = store_rate is None or rate <= store_rate
        rows.append(Row(
            f"chat: persistence on vs off at {rate:g} sends/s (≥ 0.9×, up to the store's "
            f"batched write rate)", on, "/s", off, "same server, persistence off",
            Target(">=", 0.9) if within else None,
            note=(f"off: p99 {off_p99:.1f} ms" if off_p99 is not None else "off: no p99")
            + ("" if within else f"; above the store's {store_rate:,.0f} docs/s")))
    clean = [s for s in steps if s["lost"] == 0] or steps
    cpu = min(s["server_cpu_us_per_delivery"] for s in clean)
    db = min(s["db_cpu_us_per_delivery"] for s in clean)
    lost = sum(s["lost"] for s in steps)
    rows += [
        Row("chat: server CPU per delivered message (vs websockets.broadcast floor, ≤ 1.5×)",
            cpu, "µs", floor, "fan-out floor", Target("<=", 1.5),
            "lowest over the loss-free steps"),
        Row("chat: database CPU per delivered message (reported apart)", db, "µs",
            note="MongoDB-wire server + PostgreSQL, lowest over the loss-free steps"),
        Row("chat: lost messages (must be 0)", lost, "", target=Target("==", 0, on="value"),
            note=f"frames by type: {dict(adapter.frames.most_common(8))}"
                 + (f"; errors: {dict(adapter.errors)}" if adapter.errors else "")),
    ]
    return {"clients": o.clients, "room_size": adapter.room_size, "steps": steps,
            "peer_steps": peer_steps, "peer_error": why_no_peer,
            "frames": dict(adapter.frames), "errors": dict(adapter.errors)}, rows


def _seed_peer(ctx: Context) -> tuple[SeedPeer | None, str]:
    """The seed stack's chat (bench/seed_peer.py) started, or None and why not."""
    why_not = ensure_node()
    if why_not is not None:
        return None, why_not
    try:
        peer = ctx.server("seed-peer")
    except Exception as exc:
        traceback.print_exc()
        return None, f"it did not start: {type(exc).__name__}: {exc}"
    assert isinstance(peer, SeedPeer)
    return peer, ""


PEER_KEYS = ("delivered_per_s", "p50_ms", "p99_ms", "server_cpu_us_per_delivery",
             "db_cpu_us_per_delivery", "lost", "duplicates", "offered_deliveries_per_s")


def _peer_rows(steps: list[dict[str, Any]], peer_passes: list[list[dict[str, Any]]],
               why_not: str, rows: list[Row], rates: list[float]) -> list[dict[str, Any]]:
    """Nirvana beside the seed peer at each step, as ratios (Nirvana ÷ peer). Where the
    peer delivers everything in time, issue 22 asks Nirvana for a p50 and p99 at or below
    the peer's; above that, the peer's figures say how far it fell behind."""
    if not peer_passes:
        rows.append(skipped_row("chat vs the seed stack (Express + Socket.IO + Mongoose)",
                                why_not or "no pass ran"))
        return []
    peer_steps = median_steps(peer_passes, rates, PEER_KEYS)
    for ours, peer in zip(steps, peer_steps):
        rate = peer["offered_sends_per_s"]
        sustained = peer["lost"] == 0
        offered = f"{rate:g} sends/s ({peer['offered_deliveries_per_s']:,.0f} deliveries/s)"
        cpu = (f"CPU/delivery: Nirvana {ours['server_cpu_us_per_delivery']:.1f} µs "
               f"+ {ours['db_cpu_us_per_delivery']:.1f} µs databases, peer "
               f"{peer['server_cpu_us_per_delivery']:.1f} µs + "
               f"{peer['db_cpu_us_per_delivery']:.1f} µs store")
        for key, name in (("p50_ms", "p50"), ("p99_ms", "p99")):
            rows.append(Row(
                f"chat vs seed peer: {name} at {offered}", ours[key], "ms", peer[key],
                "seed peer, same step", Target("<=", 1.0) if sustained else None,
                note=(f"late or lost after the drain: Nirvana {ours['lost']:.0f}, peer "
                      f"{peer['lost']:.0f}; peer delivered {peer['delivered_per_s']:,.0f}/s"
                      + ("" if key == "p50_ms" else f"; {cpu}")),
                spread=spread_of(ours["summary"][key])))
    return peer_steps


def history(ctx: Context, server: Nirvana, adapter: NirvanaAdapter,
            hello_rps: Callable[[], float | None]) -> Result:
    member = adapter.users[0]
    path = f"/api/v1/conversations/{adapter.conversations[0]}/messages?limit=50"
    runs = [wrk.run(server.url, paths=[path], duration=ctx.options.duration, connections=32,
                    headers={"Authorization": f"Bearer {member.token}"})
            for _ in range(ctx.options.repetitions)]
    rps = summarize([r["requests_per_s"] for r in runs])
    p99 = summarize([r["p99_ms"] for r in runs])
    errors = sum(r["non_2xx"] + r["socket_errors"] for r in runs)
    return {"runs": runs}, [Row(
        "chat: recent history of a conversation (≥ 0.1× hello-JSON)", rps["median"], "req/s",
        hello_rps(), "hello-JSON", Target(">=", 0.1),
        f"p99 {p99['median']:.1f} ms" + (f", {errors} errors" if errors else ""))]


# -- idle authenticated connections --------------------------------------------------------------


def connections(ctx: Context, server: Nirvana, adapter: NirvanaAdapter,
                per_user: int = 10) -> Result:
    count = ctx.options.connections
    # The protocol allows `sockets_per_user` (10) sockets per user: enough users for all,
    # and not the chat clients', whose sockets the server may still be closing when the
    # resume part reconnects them (it would refuse an 11th with 4029).
    first = len(adapter.conversations) * adapter.room_size
    asyncio.run(adapter.ensure_users(first + math.ceil(count / per_user), sign_up))
    users = adapter.users[first:]
    runs = []
    for _ in range(ctx.options.repetitions):
        # A fresh process each time, as for the fan-out floor: a clean RSS baseline (a
        # process that held the sockets before reuses that memory, and the delta is ~0).
        server = ctx.restart("nirvana")
        _use(adapter, server)
        runs.append(asyncio.run(hold_idle(
            server.url, count, measure_rss=server.rss_bytes,
            path_for=lambda i: f"/ws?token={users[i // per_user].token}")))
    opened = summarize([r["opened"] for r in runs])
    answered = summarize([r["answered_pct"] for r in runs])
    per_conn = summarize([r["bytes_per_connection"] for r in runs
                          if r["bytes_per_connection"] is not None])
    floor = getattr(ctx, "fanout_bytes_per_connection", None)
    kib = per_conn["median"] / 1024 if per_conn["median"] is not None else None
    return {"requested": count, "runs": runs}, [
        Row(f"connections: idle authenticated WebSockets on /ws (of {count:,})",
            opened["median"], "", target=Target(">=", 19_000, on="value") if not
            ctx.options.quick else None,
            note=f"{answered['median']:.1f}% answered a ping"
                 + (f"; failures {runs[0]['failures']}" if runs[0]["failures"] else "")),
        Row("connections: memory per idle authenticated WebSocket (server RSS delta / N)",
            kib, "KiB", floor / 1024 if floor else None, "websockets library",
            Target("<=", 2.0)),
    ]


# -- the measurement --------------------------------------------------------------------------------


def measure(ctx: Context, hello_rps: Callable[[], float | None]) -> Result:
    server = ctx.server("nirvana")
    assert isinstance(server, Nirvana)
    adapter = NirvanaAdapter(server.url)
    clients = ctx.options.clients - ctx.options.clients % adapter.room_size
    asyncio.run(adapter.ensure_users(clients + 1, sign_up))  # +1: the lag probe's
    asyncio.run(adapter.build_rooms(clients, http))
    raw: dict[str, Any] = {}
    rows: list[Row] = []
    parts: list[tuple[str, Callable[[], Result]]] = [
        ("throughput", lambda: throughput(ctx, server, adapter)),
        ("history", lambda: history(ctx, current(), adapter, hello_rps)),
        ("connections", lambda: connections(ctx, current(), adapter)),
    ]

    def current() -> Nirvana:  # throughput restarts Nirvana (persistence off, then on)
        running = ctx.servers.get("nirvana")
        assert isinstance(running, Nirvana)
        return running

    def renewed(part: Callable[[], Any]) -> Any:
        # Access tokens live 15 minutes; the chat parts together take longer. Renewed when
        # older than 5 minutes, each part has 10 minutes before one expires.
        asyncio.run(adapter.renew_tokens(300, http))
        return part()

    for name, part in parts:
        try:
            raw[name], new_rows = renewed(part)
        except Exception as exc:  # reported; the other parts still run
            traceback.print_exc()
            raw[name] = {"error": f"{type(exc).__name__}: {exc}"}
            new_rows = [skipped_row(f"chat: {name}", f"error: {type(exc).__name__}: {exc}")]
        rows += new_rows
    return raw, rows
