"""Reads at scale (issue 19): every public read at each seeded size, as ratios to hello-JSON
measured at the same size in the same run, so how the cost grows is visible.

The sizes are reached by seeding one data directory in steps (`--reads-sizes
100000,1000000`: 100,000 blogs, measured, then 900,000 more, measured again); or
`--reads-data DIR` measures a data directory seeded beforehand (`make seed`), as it is.
The web pages' time to first byte and weight come from `bench/page_load.py`.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from nirvana.seed_text import COMMON_WORD, RARE_WORDS

from . import wrk
from .accounts import sign_up
from .context import Context, _env_without_urls
from .page_load import fetch, first_byte_times, page_weight
from .probe import request
from .report import Row, Target, med, median_of, percentile, spread_of
from .servers import ROOT, Nirvana

# (row, target on the ratio to hello-JSON, p99 target in ms)
READS: list[tuple[str, Target | None, float | None]] = [
    (f"search, a common word ({COMMON_WORD!r}, ~45% of blogs)", Target(">=", 0.2), 50.0),
    ("search, rare words (~0.1% of blogs each)", Target(">=", 0.4), None),
    ("single blog", Target(">=", 0.6), None),
    ("first feed page", Target(">=", 0.5), None),
    ("random cursor feed page", Target(">=", 0.2), None),
    ("paginated_bulk pages ≥ 1,000", Target(">=", 0.05), None),
    ("RSS /feed.xml", Target(">=", 0.3), None),
    ("sitemap index /sitemap.xml", Target(">=", 0.3), None),
    ("sitemap parts (2,000 blog ids each; gzip, as crawlers ask)", None, None),
    ("web: feed page /", None, None),
    ("web: a blog page", None, None),
    # Signed in: built for the reader (their reactions, their audiences, their blocks).
    ("single blog, signed in", None, None),
    ("first feed page, signed in", None, None),
    ("web: a blog page, signed in", None, None),
    # Last: were it slow, its queries would outlive wrk's run and slow the first second of
    # whatever row came next.
    (f"search, a common word ({COMMON_WORD!r}), signed in", None, None),
]
PAGE_BUDGET = 100_000  # issue 17: the first feed page with its assets


def seed_to(data_dir: Path, blogs: int, log: list[str]) -> dict[str, Any]:
    """Seed `blogs` more blogs into data_dir (Nirvana stopped): time and disk used."""
    argv = [sys.executable, "-m", "nirvana.seed", "--blogs", str(blogs),
            "--users", str(min(10_000, max(100, blogs // 100))), "--seed", str(blogs)]
    print(f"bench: reads: seeding {blogs:,} blogs into {data_dir}", flush=True)
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, env={**_env_without_urls(), "DATA_DIR": str(data_dir),
                                               "LOG_LEVEL": "WARNING"},
                          capture_output=True, text=True, timeout=4 * 3600)
    if proc.returncode != 0:
        raise RuntimeError(f"nirvana.seed failed: {proc.stderr.strip()[-300:]}")
    disk = subprocess.run(["du", "-sb", str(data_dir / "postgres")], capture_output=True,
                          text=True).stdout.split()[0]
    log.append(proc.stdout.strip())
    return {"seeded": blogs, "seconds": round(time.monotonic() - started, 1),
            "postgres_bytes": int(disk)}


async def _targets(url: str) -> dict[str, Any]:
    """What to request: cursors, blog ids and slugs, sitemap parts, the total."""
    cursors, ids, slugs, cursor = [], [], [], None
    for _ in range(30):
        status, body = await request(url, "GET", "/api/v1/feed?limit=20" + (
            f"&cursor={quote(cursor)}" if cursor else ""))
        page = json.loads(body)
        ids += [b["id"] for b in page["blogs"]]
        slugs += [b["slug"] for b in page["blogs"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
        cursors.append(cursor)
    _, body = await request(url, "GET", "/api/v1/blog/paginated_bulk?page=1")
    total = json.loads(body)["total"]
    _, body = await request(url, "GET", "/sitemap.xml")
    parts = body.count(b"<sitemap>")
    return {"cursors": cursors, "ids": ids, "slugs": slugs, "total": total, "parts": parts}


def _plans(t: dict[str, Any], token: str) -> list[tuple[list[str] | None, dict[str, str]]]:
    anon: dict[str, str] = {}
    signed = {"Authorization": f"Bearer {token}"}
    cookie = {"Cookie": f"jwt={token}"}  # as a browser signed in asks for a page
    deep = (["/api/v1/blog/paginated_bulk?page=" + str(p) for p in range(1000, 1051)]
            if t["total"] >= 1051 * 20 else None)
    return [
        ([f"/api/v1/blog/search?q={COMMON_WORD}"], anon),
        ([f"/api/v1/blog/search?q={w}" for w in RARE_WORDS], anon),
        ([f"/api/v1/blog/{i}" for i in t["ids"][:500]], anon),
        (["/api/v1/feed"], anon),
        ([f"/api/v1/feed?cursor={quote(c)}" for c in t["cursors"]] or None, anon),
        (deep, anon),
        (["/feed.xml"], anon),
        (["/sitemap.xml"], anon),
        ([f"/sitemaps/{n}.xml" for n in range(t["parts"])], {"Accept-Encoding": "gzip"}),
        (["/"], anon),
        ([f"/blogs/{quote(s, safe='')}" for s in t["slugs"][:200]], anon),
        ([f"/api/v1/blog/{i}" for i in t["ids"][:500]], signed),
        (["/api/v1/feed"], signed),
        ([f"/blogs/{quote(s, safe='')}" for s in t["slugs"][:200]], cookie),
        ([f"/api/v1/blog/search?q={COMMON_WORD}"], signed),
    ]


def measure_size(ctx: Context, server: Nirvana, hello_url: str, size_label: str
                 ) -> tuple[dict[str, Any], list[Row]]:
    o = ctx.options
    token = asyncio.run(sign_up(server.url, f"bench-reads-{random.randrange(10**9)}@example.com",
                                "127.9.2.1"))
    t = asyncio.run(_targets(server.url))
    # hello-JSON at this size, just before its reads: the machine's load drifts over a
    # run that seeds for half an hour in between.
    hello_runs = [wrk.run(hello_url, duration=o.duration, connections=wrk.CONNECTIONS)
                  for _ in range(o.repetitions)]
    hello = median_of(hello_runs, *wrk.KEYS)
    hello_rps = med(hello, "requests_per_s")
    raw: dict[str, Any] = {"total_published": t["total"], "sitemap_parts": t["parts"],
                           "hello": hello, "hello_runs": hello_runs,
                           "loadavg_before": open("/proc/loadavg").read().split()[:3]}
    rows = [Row(f"reads @ {size_label}: ceiling hello-JSON", hello_rps, "req/s",
                note=f"p99 {med(hello, 'p99_ms'):.2f} ms; {t['total']:,} published blogs")]
    for (name, target, p99_target), (paths, headers) in zip(READS, _plans(t, token)):
        label = f"reads @ {size_label}: {name}"
        if paths is None:
            rows.append(Row(label, None, "", note="needs ≥ 21,020 published blogs"))
            continue
        runs = [wrk.run(server.url, paths=paths, headers=headers, duration=o.duration,
                        connections=wrk.CONNECTIONS) for _ in range(o.repetitions)]
        s = raw[name] = {**median_of(runs, *wrk.KEYS), "runs": runs}
        errors = sum(r["non_2xx"] + r["socket_errors"] for r in runs)
        note = f"p50 {med(s, 'p50_ms'):.1f} ms, p99 {med(s, 'p99_ms'):.1f} ms" + (
            f", {errors} errors" if errors else "")
        rows.append(Row(label, med(s, "requests_per_s"), "req/s", hello_rps, "hello-JSON",
                        target, note, spread=spread_of(s["requests_per_s"])))
        if p99_target is not None:
            rows.append(Row(f"{label}, p99", med(s, "p99_ms"), "ms", med(hello, "p99_ms"),
                            "hello-JSON p99", Target("<=", p99_target, on="value"),
                            spread=spread_of(s["p99_ms"])))
    time.sleep(o.duration)  # the last row's leftover queries finish before the visits
    rows += _page_rows(ctx, server, hello_url, size_label, t, raw)
    raw["loadavg_after"] = open("/proc/loadavg").read().split()[:3]
    return raw, rows


def _page_rows(ctx: Context, server: Nirvana, hello_url: str, size_label: str,
               t: dict[str, Any], raw: dict[str, Any]) -> list[Row]:
    """Issue 17: TTFB (sequential first visits, nothing else loading) and weight of the web
    feed page and a blog page, beside hello-JSON's TTFB measured the same way."""
    count = 50 if ctx.options.quick else 300
    blog_paths = [f"/blogs/{quote(s, safe='')}" for s in t["slugs"][:100]]
    hello = asyncio.run(first_byte_times(hello_url, ["/"], count))
    hello_bytes = asyncio.run(fetch(hello_url, "/")).wire_bytes
    rows = []
    hello_p50, hello_p99 = percentile(hello, 50), percentile(hello, 99)
    raw["ttfb_hello_ms"] = {"p50": hello_p50, "p99": hello_p99}
    for name, paths in (("web: feed page /", ["/"]), ("web: a blog page", blog_paths)):
        times = asyncio.run(first_byte_times(server.url, paths, count))
        weight = asyncio.run(page_weight(server.url, paths[0]))
        p50, p99 = percentile(times, 50), percentile(times, 99)
        raw[f"{name} first visit"] = {"ttfb_p50_ms": p50, "ttfb_p99_ms": p99, **weight}
        label = f"reads @ {size_label}: {name}"
        rows.append(Row(f"{label}, time to first byte p50", p50, "ms", hello_p50,
                        "hello-JSON TTFB p50", note=f"p99 {p99:.2f} ms (hello {hello_p99:.2f})"))
        rows.append(Row(f"{label}, weight with its assets", weight["bytes"], "bytes",
                        hello_bytes, "hello-JSON's response", Target("<=", PAGE_BUDGET, "value"),
                        note=f"{len(weight['responses'])} responses"
                        + (f"; {len(weight['not_fetched_elsewhere'])} images on other sites "
                           "not counted" if weight["not_fetched_elsewhere"] else "")))
    return rows


def reads_at_scale(ctx: Context) -> tuple[dict[str, Any], list[Row]]:
    o = ctx.options
    hello_url = ctx.server("hello").url
    raw: dict[str, Any] = {"sizes": {}}
    rows: list[Row] = []
    if o.reads_data:
        steps = [(Path(d).resolve(), 0) for d in o.reads_data]
    else:
        data_dir = o.work_dir / "reads-var"
        seeded, steps = 0, []
        for size in o.reads_sizes:
            steps.append((data_dir, size - seeded))
            seeded = size
    for data_dir, more in steps:
        ctx.stop("reads")
        size: dict[str, Any] = {}
        if more > 0:
            size["seed"] = seed_to(data_dir, more, ctx.notes)
        server = Nirvana(data_dir, ctx.logs, o.log_level)
        server.name = "reads"
        print(f"bench: starting nirvana on {data_dir}", flush=True)
        server.start()
        ctx.servers["reads"] = server
        _, body = asyncio.run(request(server.url, "GET", "/api/v1/blog/paginated_bulk"))
        total = json.loads(body)["total"]
        label = f"{total / 1e6:.1f}M" if total >= 500_000 else f"{total / 1e3:.0f}k"
        measured, size_rows = measure_size(ctx, server, hello_url, f"{label} published")
        size.update(measured)
        raw["sizes"][label] = size
        rows += size_rows
        if "seed" in size:
            s = size["seed"]
            rows.append(Row(f"reads @ {label} published: seeding {s['seeded']:,} blogs",
                            s["seconds"], "s",
                            note=f"PostgreSQL data then {s['postgres_bytes'] / 2**30:.1f} GiB"))
    ctx.stop("reads")
    return raw, rows
