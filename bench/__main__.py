"""`python -m bench [--quick] [--only NAME,...]` (or `make bench`): measure Nirvana against the
ceilings of this machine in one run; write bench/results/latest.{json,md} and latency.png."""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from . import wrk
from .context import Context, Options
from .measurements import MEASUREMENTS
from .report import Row, markdown, plot_latency, skipped_row, write_json
from .servers import CLIENT_CORE, ROOT, SERVER_CORE, pinning_available, raise_fd_limit

RESULTS = ROOT / "bench" / "results"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: short durations, 1 repetition, few connections")
    parser.add_argument("--only", default="",
                        help=f"comma-separated subset of: {', '.join(MEASUREMENTS)}")
    parser.add_argument("--repetitions", type=int, help="repetitions per measurement (≥ 3)")
    parser.add_argument("--duration", type=float, help="seconds per wrk run or load step")
    parser.add_argument("--connections", type=int, help="idle WebSockets to hold (default "
                        "19,000, capped by the fd limit and the ephemeral ports)")
    parser.add_argument("--clients", type=int, help="chat clients, rooms of 10 (default 1,000)")
    parser.add_argument("--steps", help="offered sends/s, comma-separated (default 200,500,1000,2000)")
    parser.add_argument("--blogs", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--reads-sizes", default="100000",
                        help="blog counts the `reads` part seeds up to and measures at, "
                             "comma-separated (100000,1000000 adds ~1 h on this machine)")
    parser.add_argument("--reads-data", default="",
                        help="comma-separated data directories seeded beforehand (make seed "
                             "with DATA_DIR) for the `reads` part to measure as they are")
    parser.add_argument("--log-level", default="INFO", help="Nirvana's LOG_LEVEL (run.py's "
                        "default, INFO, writes one access line per request)")
    parser.add_argument("--label", help="what this run is, shown in the table's title")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    return parser.parse_args(argv)


def connection_cap() -> int:
    """Idle WebSockets one client process can open to one server port here."""
    fds = raise_fd_limit()
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    return min(fds, high - low) - 500


def options_from(args: argparse.Namespace, work_dir: Path, selected: list[str]) -> Options:
    quick = args.quick
    reps = args.repetitions or (1 if quick else 3)
    if reps < 3 and not quick:
        sys.exit("bench: at least 3 repetitions (or --quick for a smoke run)")
    steps = ([float(s) for s in args.steps.split(",")] if args.steps
             else [100.0, 300.0] if quick else [200.0, 500.0, 1000.0, 2000.0])
    return Options(
        quick=quick, repetitions=reps,
        duration=args.duration or (2.0 if quick else 10.0),
        connections=min(args.connections or (1000 if quick else 19_000), connection_cap()),
        clients=args.clients or (200 if quick else 1000),
        steps=steps, blogs=args.blogs if not quick else min(args.blogs, 2000),
        users=args.users if not quick else min(args.users, 100),
        log_level=args.log_level, work_dir=work_dir, seed="blogs" in selected,
        reads_sizes=[min(int(n), 2000) if quick else int(n)
                     for n in args.reads_sizes.split(",") if n.strip()],
        reads_data=[d.strip() for d in args.reads_data.split(",") if d.strip()],
    )


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} cores ({model or platform.processor()}), {mem:.0f} GiB, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}")


def git_commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()
    commit = git("rev-parse", "HEAD")
    return commit + (" (with uncommitted changes)" if git("status", "--porcelain") else "")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    selected = [n.strip() for n in args.only.split(",") if n.strip()] or list(MEASUREMENTS)
    unknown = [n for n in selected if n not in MEASUREMENTS]
    if unknown:
        sys.exit(f"bench: unknown measurement {', '.join(unknown)}; "
                 f"choose from {', '.join(MEASUREMENTS)}")
    wrk.ensure_wrk()
    work_dir = Path(tempfile.mkdtemp(prefix="nirvana-bench-"))
    options = options_from(args, work_dir, selected)
    no_pin = pinning_available()
    if no_pin is None:
        os.sched_setaffinity(0, {CLIENT_CORE})  # wrk and the load generator inherit it
        pinning = f"servers on core {SERVER_CORE}, load generators on core {CLIENT_CORE}"
    else:
        pinning = f"none: {no_pin}"
        print(f"bench: note: {pinning}", flush=True)
    label = args.label or ("SMOKE RUN (--quick) on a busy shared machine: proves the harness "
                           "works, the numbers mean nothing" if options.quick else "full run")
    meta = {
        "label": label, "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "git_commit": git_commit(), "machine": machine(), "pinning": pinning,
        "repetitions": options.repetitions, "quick": options.quick,
        "options": {k: str(v) for k, v in vars(options).items()},
        "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "wrk_version": subprocess.run(["wrk", "-v"], capture_output=True,
                                      text=True).stdout.splitlines()[:1],
    }
    ctx = Context(options)
    results: dict[str, object] = {}
    rows: list[Row] = []
    started = time.monotonic()
    try:
        for name in selected:
            print(f"bench: {name} …", flush=True)
            t0 = time.monotonic()
            try:
                raw, new_rows = MEASUREMENTS[name](ctx)
            except Exception as exc:  # one broken measurement must not lose the others
                traceback.print_exc()
                raw = {"error": f"{type(exc).__name__}: {exc}"}
                new_rows = [skipped_row(name, f"error: {type(exc).__name__}: {exc}")]
            raw["seconds"] = round(time.monotonic() - t0, 1)
            results[name] = raw
            rows += new_rows
            for row in new_rows:
                print(f"  {row.measurement}: {row.value if row.value is not None else ''} "
                      f"{row.unit} {f'({row.ratio:.2f}×)' if row.ratio else ''} {row.result} "
                      f"{row.note}", flush=True)
    finally:
        ctx.stop_all()
        if not args.keep:
            shutil.rmtree(work_dir, ignore_errors=True)
    meta["loadavg"] += " / " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    meta["seconds"] = round(time.monotonic() - started, 1)
    meta["notes"] = ctx.notes
    args.out.mkdir(parents=True, exist_ok=True)
    plot_series = {"fan-out ceiling": results["fanout"]["steps"]} if "steps" in results.get(
        "fanout", {}) else {}
    chat_steps = results.get("chat", {}).get("throughput", {})  # type: ignore[union-attr]
    if isinstance(chat_steps, dict) and "steps" in chat_steps:
        plot_series["Nirvana /ws"] = chat_steps["steps"]
        if chat_steps.get("peer_steps"):
            plot_series["seed peer (Socket.IO)"] = chat_steps["peer_steps"]
    why_no_plot = plot_latency(plot_series, args.out / "latency.png") if plot_series else (
        "no latency steps measured in this run")
    if why_no_plot:
        ctx.notes.append(why_no_plot)
    write_json(args.out / "latest.json", {"meta": meta, "rows": [r.as_dict() for r in rows],
                                          "measurements": results})
    md = markdown(rows, meta)
    if ctx.notes:
        md += "\nNotes:\n" + "".join(f"- {n}\n" for n in ctx.notes)
    (args.out / "latest.md").write_text(md)
    print(f"bench: wrote {args.out}/latest.json, latest.md"
          + ("" if why_no_plot else ", latency.png") + f" in {meta['seconds']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
