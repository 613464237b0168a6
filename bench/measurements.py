"""The measurements. Each takes the run's Context and returns (raw numbers, table rows).
A plug-in whose server side has not landed returns skipped rows that say what is missing."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from typing import Any
from urllib.parse import quote

from . import wrk
from .accounts import PASSWORD, sign_up
from .ceilings import store
from .context import Context
from .probe import probe, request, source_addresses
from .fanout_ceiling import connections, fanout
from .report import (Row, Target, med, median_of, percentile, skipped_row, spread_of,
                     summarize)
from .servers import ROOT, SERVER_CORE, pinning_available

Result = tuple[dict[str, Any], list[Row]]


def wrk_pair(ctx: Context, a_url: str, b_url: str, b_paths: list[str],
             headers: dict[str, str]) -> tuple[list[dict], list[dict]]:
    """hello-JSON and a Nirvana route, A B A B…, so a drifting machine hits both alike."""
    o = ctx.options
    a_runs, b_runs = [], []
    for _ in range(o.repetitions):
        a_runs.append(wrk.run(a_url, paths=["/"], headers=headers, duration=o.duration,
                              connections=wrk.CONNECTIONS))
        b_runs.append(wrk.run(b_url, paths=b_paths, headers=headers, duration=o.duration,
                              connections=wrk.CONNECTIONS))
    return a_runs, b_runs


def hello_ceiling(ctx: Context) -> dict[str, Any]:
    if ctx.hello is None:
        hello = ctx.server("hello")
        runs = [wrk.run(hello.url, duration=ctx.options.duration, connections=wrk.CONNECTIONS)
                for _ in range(ctx.options.repetitions)]
        ctx.hello = median_of(runs, *wrk.KEYS)
    return ctx.hello


# -- 1. ceilings --------------------------------------------------------------------------------


def store_ceiling(ctx: Context) -> Result:
    o = ctx.options
    runs = [store.measure(o.work_dir / f"store{i}", duration=o.duration)
            for i in range(o.repetitions)]
    single = summarize([r["single"]["docs_per_s"] for r in runs])
    batched = summarize([r["batched"]["docs_per_s"] for r in runs])
    cpu = summarize([r["batched"]["store_cpu_us_per_doc"] for r in runs])
    raw = {"runs": runs, "single_docs_per_s": single, "batched_docs_per_s": batched,
           "batched_store_cpu_us_per_doc": cpu}
    ctx.store_batched = batched["median"]  # type: ignore[attr-defined]
    return raw, [
        Row("ceiling: store single inserts (insert_one, --sync-on-commit)",
            single["median"], "docs/s"),
        Row(f"ceiling: store insert_many batches of {runs[0]['batch']}", batched["median"],
            "docs/s", note=f"{cpu['median']:.0f} µs store CPU/doc"),
    ]


def argon2_ceiling(ctx: Context) -> dict[str, Any]:
    pin = ["taskset", "-c", str(SERVER_CORE)] if pinning_available() is None else []
    runs = []
    for _ in range(ctx.options.repetitions):
        proc = subprocess.run(pin + [sys.executable, "-m", "bench.ceilings.argon2_rate",
                                     str(ctx.options.duration)],
                              cwd=ROOT, capture_output=True, text=True, check=True, timeout=120)
        runs.append(json.loads(proc.stdout))
    return {"runs": runs, **median_of(runs, "verifications_per_s")}


# -- 2. HTTP overhead ---------------------------------------------------------------------------


def paired_ratios(ceiling_runs: list[dict[str, Any]], runs: list[dict[str, Any]],
                  key: str = "requests_per_s") -> str:
    """The ratio of each repetition to the ceiling run next to it (wrk_pair alternates
    them): on a shared machine the pair moves together more than the medians do."""
    ratios = sorted(r[key] / c[key] for c, r in zip(ceiling_runs, runs) if c.get(key))
    if len(ratios) < 2:
        return ""
    return f"ratio per repetition {ratios[0]:.2f}–{ratios[-1]:.2f}×"


def http_overhead(ctx: Context) -> Result:
    hello, nirvana = ctx.server("hello"), ctx.server("nirvana")
    token = asyncio.run(sign_up(nirvana.url, "bench-http@example.com", "127.9.0.1"))
    # The same headers to both, so requests are the same size.
    headers = {"Authorization": f"Bearer {token}"}
    hello_runs, me_runs = wrk_pair(ctx, hello.url, nirvana.url, ["/api/v1/user/me"], headers)
    ctx.hello = median_of(hello_runs, *wrk.KEYS)
    me = median_of(me_runs, *wrk.KEYS)
    h = ctx.hello
    errors = sum(r["non_2xx"] + r["socket_errors"] for r in me_runs)
    note = f"{errors} errors" if errors else ""
    return {"hello": h, "me": me, "hello_runs": hello_runs, "me_runs": me_runs}, [
        Row("ceiling: hello-JSON (Starlette + orjson, ~2 KB)", med(h, "requests_per_s"),
            "req/s", note=f"p50 {med(h, 'p50_ms'):.2f} ms, p99 {med(h, 'p99_ms'):.2f} ms"),
        Row("GET /api/v1/user/me (Bearer), throughput", med(me, "requests_per_s"), "req/s",
            med(h, "requests_per_s"), "hello-JSON", Target(">=", 0.8),
            "; ".join(filter(None, [note, paired_ratios(hello_runs, me_runs)])),
            spread=spread_of(me["requests_per_s"])),
        Row("GET /api/v1/user/me, p99", med(me, "p99_ms"), "ms", med(h, "p99_ms"),
            "hello-JSON p99", Target("<=", 2.0), f"p50 {med(me, 'p50_ms'):.2f} ms",
            spread=spread_of(me["p99_ms"])),
    ]


# -- 3. sign-in ---------------------------------------------------------------------------------


async def _sign_in_load(url: str, emails: list[str], duration: float, concurrency: int,
                        run: int) -> dict[str, Any]:
    sources = source_addresses(run, per_address=25)  # the limit is 30/min per IP
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    start = time.perf_counter()
    end = start + duration

    async def worker(w: int) -> None:
        i = w
        while time.perf_counter() < end and i < 10_000:
            body = json.dumps({"email": emails[i % len(emails)], "password": PASSWORD})
            sent = time.perf_counter()
            status, _ = await request(url, "POST", "/api/v1/user/signin", body.encode(),
                                      {"Content-Type": "application/json"}, next(sources))
            statuses[status] += 1
            if status == 200:
                latencies.append((time.perf_counter() - sent) * 1000)
            i += concurrency

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - start
    return {"sign_ins_per_s": len(latencies) / elapsed, "p50_ms": percentile(latencies, 50),
            "p95_ms": percentile(latencies, 95), "statuses": dict(statuses)}


def sign_in(ctx: Context, concurrency: int = 8) -> Result:
    o = ctx.options
    argon = argon2_ceiling(ctx)
    nirvana = ctx.server("nirvana")
    emails = [f"bench-signin-{i}@example.com" for i in range(concurrency)]

    async def one(run: int) -> dict[str, Any]:
        for i, email in enumerate(emails):
            await sign_up(nirvana.url, email, f"127.9.1.{1 + i}")
        idle = await probe(nirvana.url, duration=o.duration)
        loaded, busy = await asyncio.gather(
            _sign_in_load(nirvana.url, emails, o.duration, concurrency, run),
            probe(nirvana.url, duration=o.duration))
        return {**loaded, "probe_idle_p99_ms": percentile(idle["latencies_ms"], 99),
                "probe_idle_p50_ms": percentile(idle["latencies_ms"], 50),
                "probe_loaded_p99_ms": percentile(busy["latencies_ms"], 99),
                "probe_loaded_p50_ms": percentile(busy["latencies_ms"], 50),
                "probe_errors": idle["errors"] + busy["errors"]}

    runs = [asyncio.run(one(run)) for run in range(o.repetitions)]
    s = median_of(runs, "sign_ins_per_s", "p50_ms", "p95_ms", "probe_idle_p99_ms",
                  "probe_loaded_p99_ms", "probe_idle_p50_ms", "probe_loaded_p50_ms")
    rejected = sum(n for r in runs for st, n in r["statuses"].items() if st != 200)
    ceiling = med(argon, "verifications_per_s")
    return {"argon2": argon, "runs": runs, **s}, [
        Row("ceiling: argon2id verifications on one core (Nirvana's parameters)", ceiling,
            "/s"),
        Row(f"sign-ins/s ({concurrency} concurrent)", med(s, "sign_ins_per_s"), "/s", ceiling,
            "argon2id", note=f"p95 {med(s, 'p95_ms'):.0f} ms"
            + (f"; {rejected} non-200" if rejected else "")),
        Row("event-loop probe (GET /health every 10 ms) p99, no load",
            med(s, "probe_idle_p99_ms"), "ms"),
        Row("event-loop probe p99 during sign-ins", med(s, "probe_loaded_p99_ms"), "ms",
            med(s, "probe_idle_p99_ms"), "no load", Target("<=", 2.0),
            "hashing must stay off the event loop", spread=spread_of(s["probe_loaded_p99_ms"])),
    ]


# -- 4. blog reads (plug-in) --------------------------------------------------------------------

BLOG_ROUTES = {
    "feed": "/api/v1/feed",
    "paginated_bulk": "/api/v1/blog/paginated_bulk",
    "search": "/api/v1/blog/search",
}
BLOG_ROWS = [
    ("first feed page", Target(">=", 0.5)),
    ("random cursor feed page", Target(">=", 0.2)),
    ("paginated_bulk pages 1–50", Target(">=", 0.15)),
    ("paginated_bulk pages ≥ 1,000", Target(">=", 0.05)),
    ("search", None),
    ("single blog", None),
]
SEARCH_TERMS = ["python", "travel", "music", "coffee", "mountain", "garden", "city", "book"]


async def _walk_feed(url: str, pages: int) -> tuple[list[str], list[Any], int]:
    cursors, ids, cursor = [], [], None
    for _ in range(pages):
        path = BLOG_ROUTES["feed"] + (f"?cursor={quote(cursor)}" if cursor else "")
        status, body = await request(url, "GET", path)
        if status != 200:
            break
        page = json.loads(body)
        ids += [b["id"] for b in page.get("blogs", []) if "id" in b]
        cursor = page.get("next_cursor")
        if not cursor:
            break
        cursors.append(cursor)
    status, body = await request(url, "GET", BLOG_ROUTES["paginated_bulk"] + "?page=1")
    total = json.loads(body).get("total", 0) if status == 200 else 0
    return cursors, ids, total


def blog_reads(ctx: Context) -> Result:
    paths = ctx.openapi_paths()
    single = sorted(p for p in paths if p.startswith("/api/v1/blog/{") and p.count("/") == 4)
    missing = [r for r in BLOG_ROUTES.values() if r not in paths]
    if not single:
        missing.append("/api/v1/blog/{id}")
    if missing:
        note = f"not available yet: route {', '.join(missing)} missing"
        return {"skipped": note}, [skipped_row(f"blog reads: {name}", note)
                                   for name, _ in BLOG_ROWS]
    nirvana = ctx.server("nirvana")
    cursors, ids, total = asyncio.run(_walk_feed(nirvana.url, 50))
    if not ids:
        note = "no blogs to read: " + ("; ".join(ctx.notes) or "seeding made none")
        return {"skipped": note}, [skipped_row(f"blog reads: {name}", note)
                                   for name, _ in BLOG_ROWS]
    template = single[0]
    param = template[template.index("{"):]
    plans: list[tuple[str, list[str] | None, str]] = [
        ("first feed page", [BLOG_ROUTES["feed"]], ""),
        ("random cursor feed page",
         [f"{BLOG_ROUTES['feed']}?cursor={quote(c)}" for c in cursors] or None,
         "needs more than one feed page"),
        ("paginated_bulk pages 1–50",
         [f"{BLOG_ROUTES['paginated_bulk']}?page={p}" for p in range(1, 51)], ""),
        ("paginated_bulk pages ≥ 1,000",
         [f"{BLOG_ROUTES['paginated_bulk']}?page={p}" for p in range(1000, 1051)]
         if total >= 1050 * 20 else None, f"needs ≥ 21,000 blogs, {total} seeded"),
        ("search", [f"{BLOG_ROUTES['search']}?q={t}" for t in SEARCH_TERMS], ""),
        ("single blog", [template.replace(param, str(i)) for i in ids[:500]], ""),
    ]
    hello = med(hello_ceiling(ctx), "requests_per_s")
    raw: dict[str, Any] = {"total": total, "hello_requests_per_s": hello}
    rows: list[Row] = []
    for (name, target), (_, plan, why_not) in zip(BLOG_ROWS, plans):
        if plan is None:
            rows.append(skipped_row(f"blog reads: {name}", why_not))
            continue
        runs = [wrk.run(nirvana.url, paths=plan, duration=ctx.options.duration,
                        connections=wrk.CONNECTIONS) for _ in range(ctx.options.repetitions)]
        s = raw[name] = {**median_of(runs, *wrk.KEYS), "runs": runs}
        errors = sum(r["non_2xx"] + r["socket_errors"] for r in runs)
        note = f"p50 {med(s, 'p50_ms'):.1f} ms, p99 {med(s, 'p99_ms'):.1f} ms" + (
            f", {errors} errors" if errors else "")
        rows.append(Row(f"blog reads: {name}", med(s, "requests_per_s"), "req/s", hello,
                        "hello-JSON", target, note, spread=spread_of(s["requests_per_s"])))
        if name == "first feed page":
            rows.append(Row("blog reads: first feed page p99", med(s, "p99_ms"), "ms",
                            target=Target("<", 20, on="value"), spread=spread_of(s["p99_ms"])))
    return raw, rows


# -- 6. Nirvana's chat (plug-in) ----------------------------------------------------------------

CHAT_ROWS = [
    "chat: delivered/s and end-to-end p99 at each offered step (vs fan-out ceiling)",
    "chat: server CPU per delivered message (vs websockets.broadcast floor, ≤ 1.5×)",
    "chat: database CPU per delivered message (reported apart)",
    "chat: persistence on vs off (≥ 0.9×, up to the store's batched write rate)",
    "chat: lost messages (must be 0)",
    "chat: recent history of a conversation (≥ 0.1× hello-JSON)",
    "connections: idle authenticated WebSockets on /ws (≥ 19,000, ≤ 2× websockets memory)",
]


def chat(ctx: Context) -> Result:
    """Nirvana's /ws through `ws_clients.NirvanaAdapter` (see bench/nirvana_chat.py). Run after
    `fanout` and `connections` (the default order) to get the ratios to their ceilings."""
    if not (ROOT / "docs" / "protocol.md").exists():
        why_not = "not available yet: docs/protocol.md missing (chat has not landed)"
        return {"skipped": why_not}, [skipped_row(name, why_not) for name in CHAT_ROWS]
    from . import nirvana_chat

    return nirvana_chat.measure(ctx, lambda: med(hello_ceiling(ctx), "requests_per_s"))


def resume_after_restart(ctx: Context) -> Result:
    """1,000 clients with messages waiting, the server restarted; see bench/chat_resume.py."""
    if not (ROOT / "docs" / "protocol.md").exists():
        why_not = "not available yet: docs/protocol.md missing (chat has not landed)"
        return {"skipped": why_not}, [skipped_row("resume after restart", why_not)]
    from . import chat_resume

    return chat_resume.measure_resume(ctx)


def notify(ctx: Context) -> Result:
    """A like storm, likes with notifications on/off, chat sends with missed-message
    tracking on/off: bench/notify.py, in process against its own embedded stores."""
    o = ctx.options
    args = [sys.executable, "-m", "bench.notify", "--repetitions", str(o.repetitions)]
    if o.quick:
        args.append("--quick")
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=True,
                          timeout=1800)
    raw = json.loads(proc.stdout.strip().splitlines()[-1])
    likes, chat_ = raw["likes"], raw["chat"]
    storm = likes["storm"]
    return raw, [
        Row(f"like storm: {storm['likes']:,} likes on one blog", storm["likes_per_s"],
            "likes/s", note=f"{storm['seconds']:.0f} s; {storm['notifications']} "
            f"notification ({storm['notification_actors']:,} actors), {storm['mails']} mails"),
        Row("likes/s with notifications on", likes["on_likes_per_s"], "likes/s",
            likes["off_likes_per_s"], "notifications off", Target(">=", 0.9)),
        Row("chat sends/s with missed-message tracking on", chat_["on_msgs_per_s"], "msgs/s",
            chat_["off_msgs_per_s"], "tracking off", Target(">=", 0.9)),
        Row("chat send p99 with missed-message tracking on", chat_["on_p99_ms"], "ms",
            chat_["off_p99_ms"], "tracking off", Target("<=", 1.0 / 0.9)),
    ]


def reads_at_scale(ctx: Context) -> Result:
    """Every public read at 100,000 blogs (and 1,000,000 with --reads-sizes); bench/reads.py."""
    from . import reads

    return reads.reads_at_scale(ctx)


def instances(ctx: Context) -> Result:
    """One Nirvana instance against two on the same stores, under the chat load;
    bench/instances.py."""
    from . import instances as instances_part

    return instances_part.measure(ctx)


MEASUREMENTS = {
    "store": store_ceiling,
    "http": http_overhead,
    "signin": sign_in,
    "blogs": blog_reads,
    "reads": reads_at_scale,
    "fanout": fanout,
    "connections": connections,
    "chat": chat,
    "resume": resume_after_restart,
    "notify": notify,
    "instances": instances,
}
