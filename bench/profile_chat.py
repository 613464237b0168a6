"""Profile Nirvana's chat under a sustained open-loop load with py-spy.

    .venv/bin/python -m bench.profile_chat [--clients 1000] [--rate 500] [--seconds 20]
                                           [--split] [--gil] [--no-spy] [--perf] [--receipts]
                                           [--room-size 10] [--out /tmp/nirvana-profile]

Starts Nirvana as the benchmark does (run.py, embedded databases, pinned to the server
core), signs up `clients` users in group conversations of `room-size` (2-256; the clients
beyond the last full room are left out), connects them all, offers `rate` sends/s for
`seconds` and meanwhile records the Nirvana process and its MongoDB-wire server with
`py-spy record --format raw` (collapsed stacks). py-spy slows what it samples, so the step's
own numbers are only meaningful with `--no-spy`. With the databases on the server's core,
a sample of Nirvana waiting for the core counts as Nirvana's work; `--split` moves the
databases to the load generator's core, so Nirvana's samples are its own CPU time;
`--gil` keeps only samples of a thread holding the GIL (none inside a system call);
`--receipts` has every client answer each message of someone else's with `delivered`, as
the web client does for a conversation not open (so a send brings up to `room-size` - 1
receipts). Prints
the step's numbers and the functions with the most samples (self and total) of each
process, the event-loop lag the benchmark's probe sees (`bench.lag_probe`) and the
server's garbage-collection pauses in the step (its /metrics), its CPU per send split
into user and kernel time (/proc), and with `--perf` the system calls and context switches
per send that `perf stat` counts on its threads in the step; the collapsed files stay in
`--out` for flame graphs. The store's samples are also split by command and an insert's
by part (`bench.store_requests`, which also counts the requests on a capture of the
store's port). Measures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from .lag_probe import LagProbe
from .nirvana_chat import http, sign_up
from .report import percentile
from .servers import CLIENT_CORE, CLOCK_TICKS, ROOT, Nirvana, descendants, pinning_available
from .store_requests import store_parts
from .ws_clients import NirvanaAdapter, clients_in_rooms, room_size
from .ws_load import Load

METRICS_TOKEN = "profile-chat-metrics-0123456789abcdef"


def top(collapsed: Path, count: int = 25) -> str:
    """The heaviest frames of a py-spy raw profile, by self and by total samples."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        frames = stack.split(";")
        samples += int(n)
        own[frames[-1]] += int(n)
        for frame in set(frames):
            total[frame] += int(n)
    if not samples:
        return "  (no samples)\n"
    out = [f"  {samples} samples; self:"]
    out += [f"    {100 * n / samples:5.1f}%  {f}" for f, n in own.most_common(count)]
    out.append("  total:")
    out += [f"    {100 * n / samples:5.1f}%  {f}" for f, n in total.most_common(count)]
    return "\n".join(out) + "\n"


# A chat send's phases, for `phases`: the first rule with a frame of the stack containing
# its text names the sample's phase, so a nested phase is listed before its callers.
PHASES: list[tuple[str, tuple[str, ...]]] = [
    # Its callers are the writer's answers (settle): listed first, or the pass's
    # writes would count as answering.
    ("fan-out: the delivery pass's writes", ("DirectSendProtocol.uncork",)),
    ("ack", ("_answer (nirvana/ws/pipeline.py",)),
    ("fan-out: newMessage encoding", ("new_message_frame (", "message_out (",
                                      "encode (nirvana/ws/events.py")),
    ("fan-out: writes to sockets", ("Hub.message_posted",)),
    ("metrics", ("CountingPublisher.message_posted", "prometheus_client")),
    ("listeners (missed messages, mentions)", ("ChatPublishers._tell",)),
    ("posted: cache and conversation state", ("Messaging._posted",)),
    ("encoding for the store", ("message_doc (", "(bson/")),
    ("insert (the store's socket)", ("SendCommitter.write", "WireInserts.", "_Wire.")),
    ("numbering and answering (writer)", ("SendCommitter.prepare", "SendCommitter.settle",
                                          "Summaries.add")),
    ("writer: other", ("ChatWriter.",)),
    ("parse and validate", ("ServerConnection.receive",)),
    ("checks (text, membership, block, rate)", (
        "check_key (", "Messaging._validate", "WriteGate", "standing.py",
        "Messaging.conversation_for", "Messaging._check_direct_allowed",
        "Messaging._as_uploaded", "attachments_of")),
    ("queueing the write (draft, retry key, timer)", ("MongoChatStore.append",
                                                      "MessageDraft")),
    ("send: other (slots, task, clock)", ("Messaging.submit_message", "send (nirvana/ws/pipeline",
                                         "Messaging._delivered")),
    ("read: uvicorn's parser (data_received)", ("WebSocketsSansIOProtocol.data_received",)),
    ("read: the endpoint's wake (queue, receive)", ("WebSocket.receive", "Queue.get")),
    ("store reads (pymongo)", ("pymongo/",)),
    ("HTTP (the benchmark's /metrics)", ("h11_impl", "RequestResponseCycle")),
    ("event loop (in C) and other", ("",)),
]


def phases(collapsed: Path) -> str:
    """The samples of a py-spy raw profile of Nirvana split by a chat send's phases
    (`PHASES`); samples of idle threads (a thread waiting on a condition) are left out."""
    counts: collections.Counter[str] = collections.Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit() or stack.rsplit(";", 1)[-1].startswith(("Condition.wait",
                                                                    "Event.wait")):
            continue
        counts[next(name for name, marks in PHASES
                    if any(mark in stack for mark in marks))] += int(n)
    samples = sum(counts.values()) or 1
    return "".join(f"    {100 * counts[name] / samples:5.1f}%  {name}\n"
                   for name, _ in PHASES if counts[name])


# The system calls a socket server's loop makes, for `perf stat` (`--perf`).
SYSCALLS = ("recvfrom", "read", "write", "writev", "sendto", "sendmsg", "recvmsg",
            "epoll_wait", "epoll_pwait", "epoll_ctl", "futex", "getpid", "ioctl")


def user_and_kernel_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds so far of a process, all its threads (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def perf_counts(path: Path) -> dict[str, float]:
    """event -> count from `perf stat -x,` output (task-clock in ms)."""
    counts: dict[str, float] = {}
    for line in path.read_text().splitlines():
        fields = line.split(",")
        if len(fields) > 2 and not line.startswith("#"):
            try:
                counts[fields[2].removeprefix("syscalls:sys_enter_")] = float(fields[0])
            except ValueError:  # "<not counted>"
                continue
    return counts


async def drive(server: Nirvana, clients: int, rate: float, seconds: float,
                out: Path, spy: bool = True, gil: bool = False, perf: bool = False,
                perf_record: bool = False, receipts: bool = False, room_size: int = 10
                ) -> None:
    adapter = NirvanaAdapter(server.url, room_size, receipts=receipts)
    await adapter.ensure_users(clients + 1, sign_up)  # +1: the lag probe's, in no room
    await adapter.build_rooms(clients, http)
    load = Load(adapter, clients)
    await load.connect()
    probe = LagProbe(adapter.ws_url, adapter.users[clients].token)
    await probe.start()
    spy_path = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    targets = {"nirvana": server.pid, "mongo": server.mongo_pid()} if spy else {}
    recorders = [subprocess.Popen(
        [spy_path, "record", "--pid", str(pid), "--format", "raw", "--rate", "100",
         "--duration", str(int(seconds)), "--nonblocking", *(["--gil"] if gil else []),
         "--output", str(out / f"{name}.txt")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for name, pid in targets.items()
        if pid]
    if perf:  # the server's threads only (-p), for the step's length
        events = ["task-clock", "context-switches", "raw_syscalls:sys_enter",
                  *(f"syscalls:sys_enter_{name}" for name in SYSCALLS)]
        recorders.append(subprocess.Popen(
            ["perf", "stat", "-x,", "-o", str(out / "perf-stat.txt"), "-p", str(server.pid),
             "-e", ",".join(events), "--", "sleep", str(seconds)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    if perf_record:  # kernel and C stacks of the server's threads (`perf report -i`)
        recorders.append(subprocess.Popen(
            ["perf", "record", "-F", "499", "-g", "-o", str(out / "perf.data"),
             "-p", str(server.pid), "--", "sleep", str(seconds)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    split_before = user_and_kernel_seconds(server.pid)
    before, waited = server.cpu_breakdown(), server.core_wait_seconds()
    pauses_before = gc_pauses(server)
    started = time.monotonic()
    step = await load.step(1, rate, seconds, drain=3.0)
    ended = time.monotonic()
    lag = probe.samples(started, ended)
    after = server.cpu_breakdown()
    split_after = user_and_kernel_seconds(server.pid)
    pauses = gc_pauses(server)
    wait = (server.core_wait_seconds() - waited) * 1000 / (ended - started)
    await probe.stop()
    for r in recorders:
        r.wait(timeout=60)
    await load.close()
    n = max(1, step["deliveries"])
    print(f"offered {rate:g} sends/s for {seconds:g} s to {clients} clients: "
          f"{step['delivered_per_s']:.0f} delivered/s, p50 {step['p50_ms']} ms, "
          f"p99 {step['p99_ms']} ms, lost {step['lost']}, twice {step['duplicates']}; "
          f"generator busy {100 * step['generator_cpu_share']:.0f}%, behind by up to "
          f"{step['scheduler_behind_max_ms']:.0f} ms")
    if lag:
        print(f"  event-loop lag (ping round trip every 10 ms): p50 {percentile(lag, 50):.2f} "
              f"ms, p99 {percentile(lag, 99):.2f} ms, max {max(lag):.1f} ms")
    print(f"  Nirvana waited {wait:.0f} ms per second for its core (run-queue delay)")
    for generation in "012":
        count, total, over, freed = (
            pauses.get((generation, k), 0) - pauses_before.get((generation, k), 0)
            for k in ("count", "sum", "over_10ms", "collected"))
        if count:
            print(f"  garbage collections of generation {generation}: {count:.0f}, "
                  f"{1000 * total / count:.1f} ms each on average, {over:.0f} over 10 ms, "
                  f"{1000 * total / (ended - started):.1f} ms per second, "
                  f"{freed / count:.0f} objects freed each")
    commits, writes, busy = (
        pauses.get((name, k), 0) - pauses_before.get((name, k), 0)
        for name, k in (("nirvana_chat_writer_batch_size", "count"),
                        ("nirvana_chat_writer_batch_size", "sum"),
                        ("nirvana_chat_writer_commit_seconds", "sum")))
    if commits:
        print(f"  chat writer: {commits:.0f} commits, {writes / commits:.1f} writes each on "
              f"average, {1000 * busy / commits:.1f} ms each on average")
    for key in after:
        print(f"  {key}: {(after[key] - before[key]) * 1e6 / n:.1f} µs CPU per delivery")
    sends = max(1, step["sends"])
    user, kernel = ((a - b) * 1e6 / sends for a, b in zip(split_after, split_before))
    print(f"  server per send: {user:.0f} µs user + {kernel:.0f} µs kernel CPU "
          f"({100 * kernel / max(user + kernel, 1e-9):.0f}% kernel; /proc, the whole step)")
    if perf and (out / "perf-stat.txt").exists():
        counts = perf_counts(out / "perf-stat.txt")
        # perf counts for `seconds`, from about the step's start: per offered send.
        offered = rate * seconds
        print(f"  perf stat, server threads, per offered send: "
              f"{counts.get('task-clock', 0) * 1000 / offered:.0f} µs task-clock, "
              f"{counts.get('context-switches', 0) / offered:.2f} context switches, "
              f"{counts.get('raw_syscalls:sys_enter', 0) / offered:.2f} system calls: "
              + ", ".join(f"{name} {counts[name] / offered:.2f}" for name in SYSCALLS
                          if counts.get(name)))
    print(f"  worst latency (ms) by second of the step: {step['worst_ms_by_second']}")
    print(f"  frames: {dict(adapter.frames.most_common(10))}; errors {dict(adapter.errors)}"
          + (f"; receipts sent {adapter.receipts_sent}" if receipts else ""))
    for name in targets:
        path = out / f"{name}.txt"
        if path.exists():
            print(f"{name} ({path}):\n{top(path)}")
            if name == "nirvana":
                print(f"nirvana by phase of a send:\n{phases(path)}")
            else:  # the store's samples by command, an insert's by part
                print(f"mongo by command:\n{store_parts(path)}")


def gc_pauses(server: Nirvana) -> dict[tuple[str, str], float]:
    """(generation, "count" | "sum" | "over_10ms") -> the server's garbage-collection
    pauses so far, from its /metrics (served with the METRICS_TOKEN `main` sets); also the
    chat writer's commits so far, keyed (metric name, "count" | "sum")."""
    request = urllib.request.Request(server.url + "/metrics",
                                     headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if family.name in ("nirvana_chat_writer_batch_size",
                           "nirvana_chat_writer_commit_seconds"):
            for sample in family.samples:  # the writer's commits, as ("writer", ...)
                if sample.name.endswith(("_count", "_sum")):
                    found[family.name, sample.name.rsplit("_", 1)[1]] = sample.value
            continue
        if family.name not in ("nirvana_gc_pause_seconds", "nirvana_gc_collected_objects"):
            continue
        for sample in family.samples:
            generation = sample.labels.get("generation", "")
            if sample.name == "nirvana_gc_collected_objects_total":
                found[generation, "collected"] = sample.value
            elif sample.name.endswith("_count"):
                found[generation, "count"] = sample.value
            elif sample.name.endswith("_sum"):
                found[generation, "sum"] = sample.value
            elif sample.labels.get("le") == "0.01":
                found[generation, "over_10ms"] = -sample.value  # the count is added below
    for (generation, key), value in list(found.items()):
        if key == "over_10ms":
            found[generation, key] = found.get((generation, "count"), 0) + value
    return found


def move_databases(server: Nirvana, core: int) -> None:
    """Pin the MongoDB-wire server and every PostgreSQL process to `core`: every thread,
    since an affinity set through a pid holds for its main thread only, and the store
    serves each connection on a thread of its own, started on the server's core."""
    pids = [server.mongo_pid(), server.postgres_pid()]
    pids += descendants(pids[1]) if pids[1] else []
    for pid in filter(None, pids):
        try:
            threads = [int(task.name) for task in Path(f"/proc/{pid}/task").iterdir()]
        except OSError:  # a backend that just exited
            continue
        for thread in threads:
            try:
                os.sched_setaffinity(thread, {core})
            except OSError:  # a thread that just exited
                pass


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_chat", description=__doc__)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--no-spy", action="store_true",
                        help="run the load without py-spy (py-spy slows the processes it samples)")
    parser.add_argument("--gil", action="store_true",
                        help="sample only a thread holding the GIL: the interpreter's own CPU, "
                             "not time in a system call (py-spy --gil)")
    parser.add_argument("--split", action="store_true",
                        help="move the databases to the load generator's core, so the "
                             "server's core runs Nirvana alone and py-spy's samples of it "
                             "are its own CPU time, not time spent waiting for the core")
    parser.add_argument("--perf", action="store_true",
                        help="count the server's system calls and context switches in the "
                             "step with `perf stat` (Linux perf, tracepoints: root)")
    parser.add_argument("--perf-record", action="store_true",
                        help="record the server's kernel and C stacks in the step "
                             "(`perf record -g`, read with `perf report -i OUT/perf.data`)")
    parser.add_argument("--receipts", action="store_true",
                        help="every client answers each message of someone else's with "
                             "`delivered`, as the web client does (docs/protocol.md)")
    parser.add_argument("--room-size", type=room_size, default=10,
                        help="members of each group conversation (2-256)")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir())
                        / "nirvana-profile")
    args = parser.parse_args(argv)
    args.clients = clients_in_rooms(parser, args.clients, args.room_size)
    args.out.mkdir(parents=True, exist_ok=True)
    if pinning_available() is None:
        os.sched_setaffinity(0, {CLIENT_CORE})
    os.environ["METRICS_TOKEN"] = METRICS_TOKEN  # the server inherits it: gc_pauses
    work = Path(tempfile.mkdtemp(prefix="nirvana-profile-"))
    server = Nirvana(work / "var", work / "logs", "WARNING", ROOT)
    try:
        server.start()
        if args.split:
            move_databases(server, CLIENT_CORE)
        asyncio.run(drive(server, args.clients, args.rate, args.seconds, args.out,
                          spy=not args.no_spy, gil=args.gil, perf=args.perf,
                          perf_record=args.perf_record, receipts=args.receipts,
                          room_size=args.room_size))
    finally:
        server.stop()
        if (work / "logs" / "nirvana.err").exists():  # the server's own log, for reading later
            shutil.copy(work / "logs" / "nirvana.err", args.out / "nirvana.err")
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
