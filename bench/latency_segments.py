"""Where a chat send's latency goes, read from a packet capture of the loopback.

    tcpdump -i lo -s 1000 -w /tmp/chat.pcap tcp &     # needs CAP_NET_RAW (root)
    python -m bench.ab_chat --a . --b . --peer --rounds 2 --steps 100,500
    kill %1
    python -m bench.latency_segments /tmp/chat.pcap --steps 100,500

Every send of one message is cut at the packets it makes, each timed by the kernel as it
leaves its sender, so neither server's own clock or instrumentation is in the figures:

- in: the last frame a client sent the server before the insert (the send itself; at the
  benchmark's rates the frames are milliseconds apart, and one more than `--window` before
  the insert is not taken);
- insert: the server's insert leaving for the store (found by the send's client_id in the
  document);
- reply: the store's next packet on that connection (the insert's answer: one insert at a
  time per connection at light load);
- deliveries: the `newMessage` frames carrying the client_id, to each member.

Nirvana and the seed peer are told apart by their frames (`{"type":"newMessage"` against
Socket.IO's `42["newMessage"`), and the steps by each send's local rate (the system's
sends delivered within half a second either side, those committed in batches included),
snapped to the nearest of `--steps`; a pass is a system's run of sends with no pause over
2 s (`--passes` prints each). Medians per system and
step, in µs: in → insert (the server's path to the store), insert → reply (the store's
round trip, its CPU on the shared core included), reply → first, median and last delivery
(the server's path back, and the fan-out), and in → median delivery. Measures; asserts
nothing. Figures and their reading: docs/performance.md ("Where 5,000's p50 goes, packet by
packet").
"""

from __future__ import annotations

import argparse
import bisect
import re
import statistics
import struct
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

CLIENT_ID = re.compile(rb"([0-9a-f]{6,}\|[0-9A-Za-z_.:-]+)")
OURS, PEER = b'{"type":"newMessage"', b'42["newMessage"'
ETHERNET, LINUX_SLL = 1, 113


@dataclass(frozen=True)
class Packet:
    ts: float
    sport: int
    dport: int
    payload: bytes


@dataclass
class Send:
    system: str  # "nirvana" or "peer"
    t_in: float
    t_insert: float
    t_reply: float
    deliveries: list[float] = field(default_factory=list)
    rate: int = 0  # the system's sends within half a second either side (all of them)
    step: float = 0.0
    run: int = 0  # the system's pass of the benchmark, counted from 1 (`assign_passes`)


def read_pcap(path: Path) -> Iterator[Packet]:
    """The TCP packets over IPv4 that carry a payload (classic pcap, Ethernet or Linux
    cooked framing, as tcpdump writes on `lo`)."""
    data = path.read_bytes()
    magic = struct.unpack("<I", data[:4])[0]
    if magic not in (0xA1B2C3D4, 0xA1B23C4D):
        raise ValueError(f"{path}: not a little-endian pcap file (pcapng is not read)")
    scale = 1e9 if magic == 0xA1B23C4D else 1e6
    link = struct.unpack("<I", data[20:24])[0]
    skip = {ETHERNET: 14, LINUX_SLL: 16}.get(link)
    if skip is None:
        raise ValueError(f"{path}: link type {link} is not read")
    off = 24
    while off + 16 <= len(data):
        sec, frac, caught, _ = struct.unpack("<IIII", data[off:off + 16])
        raw = data[off + 16 + skip:off + 16 + caught]
        off += 16 + caught
        if len(raw) < 20 or raw[0] >> 4 != 4 or raw[9] != 6:  # IPv4, TCP
            continue
        tcp = raw[(raw[0] & 15) * 4:]
        if len(tcp) < 20:
            continue
        payload = tcp[(tcp[12] >> 4) * 4:]
        if payload:
            sport, dport = struct.unpack(">HH", tcp[:4])
            yield Packet(sec + frac / scale, sport, dport, payload)


def sends(packets: list[Packet], window: float = 0.0015) -> list[Send]:
    """Each single-message insert with its reply, its deliveries and the frame before it."""
    inserts: list[tuple[Packet, bytes]] = []
    deliveries: dict[bytes, list[float]] = defaultdict(list)
    system_of: dict[bytes, str] = {}
    server_ports: set[int] = set()
    for p in packets:
        if b"insert" in p.payload and b"messages" in p.payload:
            ids = CLIENT_ID.findall(p.payload)
            if len(ids) == 1:
                inserts.append((p, ids[0]))
        elif OURS in p.payload or PEER in p.payload:
            server_ports.add(p.sport)
            for cid in CLIENT_ID.findall(p.payload):
                deliveries[cid].append(p.ts)
                system_of[cid] = "nirvana" if OURS in p.payload else "peer"
    store_conns = {(p.dport, p.sport) for p, _ in inserts}
    replies: dict[tuple[int, int], list[float]] = defaultdict(list)
    frames_in: list[float] = []
    for p in packets:
        if (p.sport, p.dport) in store_conns:
            replies[(p.sport, p.dport)].append(p.ts)
        elif p.dport in server_ports and p.sport not in server_ports:
            frames_in.append(p.ts)
    frames_in.sort()
    # Every send's first delivery, batched or not: the local rate counts them all.
    firsts: dict[str, list[float]] = defaultdict(list)
    for cid, times in deliveries.items():
        firsts[system_of[cid]].append(min(times))
    for times in firsts.values():
        times.sort()
    out = []
    for p, cid in inserts:
        answered = replies[(p.dport, p.sport)]
        j = bisect.bisect_right(answered, p.ts)
        k = bisect.bisect_left(frames_in, p.ts) - 1
        if j == len(answered) or k < 0 or p.ts - frames_in[k] > window or cid not in system_of:
            continue
        times = firsts[system_of[cid]]
        rate = bisect.bisect_right(times, p.ts + 0.5) - bisect.bisect_left(times, p.ts - 0.5)
        out.append(Send(system_of[cid], frames_in[k], p.ts, answered[j],
                        sorted(deliveries[cid]), rate))
    return out


def assign_steps(found: list[Send], steps: list[float]) -> None:
    """Each send's step: its local rate snapped to the nearest offered one."""
    for s in found:
        s.step = min(steps, key=lambda r: abs(r - s.rate))


def assign_passes(found: list[Send], gap: float = 2.0) -> None:
    """Each send's pass: a system's inserts more than `gap` seconds apart begin a new one
    (ab_chat runs a pass's steps back to back, and restarts or switches between passes)."""
    last: dict[str, float] = {}
    runs: dict[str, int] = defaultdict(int)
    for s in sorted(found, key=lambda s: s.t_insert):
        if s.t_insert - last.get(s.system, float("-inf")) > gap:
            runs[s.system] += 1
        last[s.system] = s.t_insert
        s.run = runs[s.system]


def summary(found: list[Send], by_pass: bool = False) -> list[dict[str, float | str]]:
    """Medians in µs per (system, step), or per (system, pass, step)."""
    groups: dict[tuple[str, int, float], list[Send]] = defaultdict(list)
    for s in found:
        groups[(s.system, s.run if by_pass else 0, s.step)].append(s)
    rows: list[dict[str, float | str]] = []
    for (system, run, step), group in sorted(groups.items()):
        def med(values: list[float]) -> float:
            return round(statistics.median(values) * 1e6, 1)
        rows.append({
            "system": system + (f" {run}" if by_pass else ""), "step": step,
            "sends": len(group),
            "in_to_insert": med([s.t_insert - s.t_in for s in group]),
            "insert_to_reply": med([s.t_reply - s.t_insert for s in group]),
            "reply_to_first": med([s.deliveries[0] - s.t_reply for s in group
                                   if s.deliveries]),
            "reply_to_median": med([s.deliveries[len(s.deliveries) // 2] - s.t_reply
                                    for s in group if s.deliveries]),
            "reply_to_last": med([s.deliveries[-1] - s.t_reply for s in group
                                  if s.deliveries]),
            "in_to_median": med([s.deliveries[len(s.deliveries) // 2] - s.t_in
                                 for s in group if s.deliveries]),
        })
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency_segments",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pcap", type=Path)
    parser.add_argument("--steps", default="200,500,1000,2000",
                        help="the offered sends/s of the run (ab_chat's --steps)")
    parser.add_argument("--window", type=float, default=0.0015,
                        help="seconds before an insert its send's frame may be")
    parser.add_argument("--passes", action="store_true",
                        help="a row per pass of each system as well (a loaded pass shows)")
    args = parser.parse_args(argv)
    found = sends(list(read_pcap(args.pcap)), args.window)
    assign_steps(found, [float(s) for s in args.steps.split(",")])
    assign_passes(found)
    print(f"{'system':10} {'sends/s':>7} {'sends':>6} {'in→insert':>10} {'insert→reply':>13} "
          f"{'reply→first':>12} {'→median':>8} {'→last':>7} {'in→median':>10}  (µs, medians)")
    for r in summary(found) + (summary(found, by_pass=True) if args.passes else []):
        print(f"{r['system']:10} {r['step']:7.0f} {r['sends']:6} {r['in_to_insert']:10.0f} "
              f"{r['insert_to_reply']:13.0f} {r['reply_to_first']:12.0f} "
              f"{r['reply_to_median']:8.0f} {r['reply_to_last']:7.0f} "
              f"{r['in_to_median']:10.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
