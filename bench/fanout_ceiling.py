"""The fan-out ceiling: what `websockets.broadcast` alone sustains on this machine (open-loop
steps through `ws_clients.FanoutAdapter`) and what an idle WebSocket costs it. Nirvana's chat
is measured against these (bench/nirvana_chat.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .context import Context
from .lag_probe import LagProbe
from .report import Row, med, median_of, median_steps, percentile
from .ws_clients import FanoutAdapter, hold_idle
from .ws_load import Load

Result = tuple[dict[str, Any], list[Row]]


async def _fanout_pass(url: str, clients: int, steps: list[float], duration: float,
                       server_cpu) -> list[dict[str, Any]]:
    load = Load(FanoutAdapter(url), clients)
    await load.connect()
    out = []
    # The same lag probe as Nirvana's passes: its 100 pings a second wake the server, a cost
    # Nirvana's CPU per delivery carries, so the floor carries it too (a room of its own).
    probe = LagProbe(FanoutAdapter(url).ws_url, None)
    await probe.start()
    try:
        warm_up = await load.warm_up(99, steps[0])
        for i, rate in enumerate(steps):
            cpu0, started = server_cpu(), time.monotonic()
            step = await load.step(i, rate, duration, drain=2.0)
            lag = probe.samples(started, time.monotonic())
            step["loop_lag_p99_ms"] = percentile(lag, 99) if lag else None
            step["server_cpu_us_per_delivery"] = (
                (server_cpu() - cpu0) * 1e6 / max(1, step["deliveries"]))
            out.append(step)
        out[0]["warm_up"] = warm_up
    finally:
        await probe.stop()
        await load.close()
    return out


STEP_KEYS = ("delivered_per_s", "p50_ms", "p99_ms", "server_cpu_us_per_delivery",
             "loop_lag_p99_ms", "lost",
             "generator_cpu_share", "offered_deliveries_per_s")


def fanout(ctx: Context) -> Result:
    o = ctx.options
    server = ctx.server("fanout")
    passes = [asyncio.run(_fanout_pass(server.url, o.clients, o.steps, o.duration,
                                       server.cpu_seconds))
              for _ in range(o.repetitions)]
    steps = median_steps(passes, o.steps, STEP_KEYS)
    rows = []
    for step in steps:
        rate = step["offered_sends_per_s"]
        saturated = step["generator_cpu_share"] > 0.9
        rows.append(Row(
            f"ceiling: fan-out, {rate:g} sends/s → {step['offered_deliveries_per_s']:,.0f} "
            f"deliveries/s offered, p99", step["p99_ms"], "ms",
            note=f"delivered {step['delivered_per_s']:,.0f}/s, "
                 f"{step['server_cpu_us_per_delivery']:.1f} µs CPU/delivery, "
                 + (f"loop lag p99 {step['loop_lag_p99_ms']:.1f} ms, "
                    if step.get("loop_lag_p99_ms") is not None else "")
                 + f"lost {step['lost']:.0f}"
                 + ("; LOAD GENERATOR SATURATED" if saturated else "")))
    clean = [s for s in steps if s["lost"] == 0] or steps
    floor = min(s["server_cpu_us_per_delivery"] for s in clean)
    rows.append(Row("ceiling: fan-out server CPU per delivered message (websockets.broadcast)",
                    floor, "µs", note="lowest over the loss-free steps"))
    ctx.fanout_floor = floor  # type: ignore[attr-defined]
    ctx.fanout_steps = steps  # type: ignore[attr-defined]
    return {"clients": o.clients, "room_size": 10, "steps": steps}, rows


def connections(ctx: Context) -> Result:
    o = ctx.options
    runs = []
    for _ in range(o.repetitions):
        server = ctx.restart("fanout")  # a fresh process: a clean RSS baseline
        runs.append(asyncio.run(hold_idle(server.url, o.connections,
                                          measure_rss=server.rss_bytes)))
    s = median_of(runs, "opened", "answered_pct", "bytes_per_connection")
    per_conn = med(s, "bytes_per_connection")
    ctx.fanout_bytes_per_connection = per_conn  # type: ignore[attr-defined]
    return {"requested": o.connections, "runs": runs, **s}, [
        Row(f"ceiling: idle WebSockets held by the fan-out server (of {o.connections:,})",
            med(s, "opened"), "", note=f"{med(s, 'answered_pct'):.1f}% answered a ping"),
        Row("ceiling: memory per idle WebSocket (websockets library)",
            per_conn / 1024 if per_conn is not None else None, "KiB", note="server RSS delta / N"),
    ]
