"""What Nirvana asks its MongoDB-wire store, and where the store's CPU goes.

    tcpdump -i lo -s 0 -w store.pcap "tcp port <the store's port>"   # during a run
    .venv/bin/python -m bench.store_requests store.pcap --port <port> [--window 15]
                                              [--profile /tmp/nirvana-profile/mongo.txt]

Reads a capture of the store's port (tcpdump, loopback), follows each connection's bytes
and parses its OP_MSG requests and replies; picks the `window` seconds with the most
message inserts (the load's step) and prints, per kind of request (command, collection,
the filter's or update's fields, in a transaction or not), how many a second, the
documents they carry, their bytes and the store's answer time (request to reply on the
same connection: queueing on the store's core included). With `--profile` (a py-spy raw
profile of the store, as `bench.profile_chat` writes it), it also splits the store's busy
samples by command and an insert's samples by its parts. Measures; asserts nothing.
Why: docs/performance.md, "Where the store's CPU goes at 10,000 deliveries/s".
"""

from __future__ import annotations

import argparse
import collections
import struct
import sys
from pathlib import Path
from typing import Any, Iterator

import bson

from .report import percentile

OP_MSG = 2013
# A wire message's header is believed only with a length in these bounds (16 bytes of
# header, the server's 48 MiB limit) and an opcode the protocol has (reply, query, compressed,
# msg); otherwise the buffer is mid-message (a capture started there, or bytes dropped).
_SIZES = range(16, 48 * 1024 * 1024 + 1)
_OPCODES = {1, 2004, 2012, OP_MSG}
_LINK_HEADER = {1: 14, 113: 16, 276: 20, 0: 4}  # Ethernet, Linux cooked v1 / v2, BSD loopback


def segments(path: Path, skipped: collections.Counter[str]
             ) -> Iterator[tuple[float, int, int, int, bytes]]:
    """(time, source port, destination port, TCP seq, payload) of each IPv4 TCP segment
    that carries data, from a pcap file; other segments (IPv6 among them: `::1`) are
    counted in `skipped["not IPv4"]`."""
    with path.open("rb") as f:
        header = f.read(24)
        magic = struct.unpack("<I", header[:4])[0]
        order = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        scale = 1e9 if magic in (0xA1B23C4D, 0x4D3CB2A1) else 1e6
        skip = _LINK_HEADER[struct.unpack(order + "I", header[20:24])[0]]
        while len(record := f.read(16)) == 16:
            seconds, fraction, size, _ = struct.unpack(order + "IIII", record)
            ip = f.read(size)[skip:]
            if not ip or ip[0] >> 4 != 4:
                skipped["not IPv4"] += 1
                continue
            tcp = ip[(ip[0] & 15) * 4:struct.unpack(">H", ip[2:4])[0]]
            source, destination, seq = struct.unpack(">HHI", tcp[:8])
            if payload := tcp[(tcp[12] >> 4) * 4:]:
                yield seconds + fraction / scale, source, destination, seq, payload


def messages(path: Path, port: int, skipped: collections.Counter[str]
             ) -> Iterator[tuple[float, bool, int, bytes]]:
    """(time of its first byte, sent to the store, client port, bytes) of each wire message
    on `port`, each connection's direction reassembled in TCP order. Where bytes are
    missing or the buffer does not start with a plausible header, what is buffered is
    dropped up to the next segment and counted in `skipped["gaps"]`: the counts are then
    lower bounds."""
    # -> [next seq, buffer, first byte's time, out of step (a gap counted, not yet over)]
    streams: dict[tuple[int, int], list[Any]] = {}
    for t, source, destination, seq, payload in segments(path, skipped):
        stream = streams.setdefault((source, destination), [seq, bytearray(), t, False])
        behind = (stream[0] - seq) & 0xFFFFFFFF
        if seq != stream[0] and behind < 0x80000000:  # a retransmission: its new bytes only
            if behind >= len(payload):
                continue
            payload = payload[behind:]
        elif seq != stream[0]:  # bytes missing (tcpdump dropped them): start over there
            skipped["gaps"] += not stream[3]
            stream[3] = True
            stream[1].clear()
        if not stream[1]:
            stream[2] = t
        stream[1] += payload
        stream[0] = (seq + len(payload)) & 0xFFFFFFFF
        buffer = stream[1]
        while len(buffer) >= 16:
            size, op = struct.unpack("<i8xi", buffer[:16])
            if size not in _SIZES or op not in _OPCODES:  # mid-message: wait for a segment
                skipped["gaps"] += not stream[3]          # that starts one
                stream[3] = True
                buffer.clear()
                break
            stream[3] = False
            if len(buffer) < size:
                break
            to_store = destination == port
            yield stream[2], to_store, source if to_store else destination, bytes(buffer[:size])
            del buffer[:size]
            stream[2] = t


def parse(message: bytes) -> tuple[int, int, dict[str, Any] | None, int]:
    """(request id, response to, the body, documents in its document sequences)."""
    size, request_id, response_to, op = struct.unpack("<iiii", message[:16])
    if op != OP_MSG:
        return request_id, response_to, None, 0
    end = size - (4 if struct.unpack("<I", message[16:20])[0] & 1 else 0)
    i, body, documents = 20, None, 0
    while i < end:
        kind, length = message[i], struct.unpack("<i", message[i + 1:i + 5])[0]
        if kind == 0:
            body = bson.decode(message[i + 1:i + 1 + length])
        else:  # a document sequence: its identifier, then documents
            j = message.index(b"\0", i + 5) + 1
            while j < i + 1 + length:
                documents += 1
                j += struct.unpack("<i", message[j:j + 4])[0]
        i += 1 + length
    return request_id, response_to, body, documents


def kind_of(body: dict[str, Any]) -> tuple[str, int]:
    """A request's kind (command, collection, fields, transaction) and its documents."""
    name = next(iter(body))
    collection = body[name] if isinstance(body[name], str) else ""
    fields: Any = ()
    count = 0
    if name == "insert":
        count = len(body.get("documents", ()))
    elif name == "update":
        updates = body.get("updates", [])
        count = len(updates)
        fields = sorted(updates[0].get("u", {})) if updates else ()
    elif name in ("find", "count", "distinct"):
        fields = sorted(body.get("filter") or body.get("query") or {})
    elif name == "delete":
        fields = sorted((body.get("deletes") or [{}])[0].get("q", {}))
    elif name == "aggregate":
        fields = [next(iter(stage)) for stage in body.get("pipeline", [])]
    transaction = (" (starts a transaction)" if body.get("startTransaction")
                   else " (in a transaction)" if "txnNumber" in body
                   and name not in ("commitTransaction", "abortTransaction") else "")
    return f"{name} {collection} {','.join(fields)}".strip() + transaction, count


def requests(path: Path, port: int, skipped: collections.Counter[str]
             ) -> list[dict[str, Any]]:
    """Every request to the store: time, connection, kind, documents, bytes, answer time;
    what could not be read is counted in `skipped` (`messages`)."""
    found: list[dict[str, Any]] = []
    asked: dict[tuple[int, int], dict[str, Any]] = {}
    for t, to_store, connection, message in messages(path, port, skipped):
        request_id, response_to, body, documents = parse(message)
        if to_store:
            kind, count = kind_of(body) if body else ("(not OP_MSG)", 0)
            asked[connection, request_id] = request = {
                "t": t, "connection": connection, "kind": kind,
                "documents": documents or count, "bytes": len(message), "answer": None}
            found.append(request)
        elif (request := asked.pop((connection, response_to), None)) is not None:
            request["answer"] = t - request["t"]
    return found


def busiest(found: list[dict[str, Any]], window: float) -> tuple[float, float]:
    """The `window` seconds with the most message inserts."""
    inserts = sorted(r["t"] for r in found if r["kind"].startswith("insert chat_messages"))
    best, end, first = 0, (inserts or [0.0])[-1], 0
    for i, t in enumerate(inserts):
        while inserts[first] < t - window:
            first += 1
        if i - first + 1 > best:
            best, end = i - first + 1, t
    return end - window, end


def table(found: list[dict[str, Any]], window: float) -> str:
    start, end = busiest(found, window)
    kinds: dict[str, list[Any]] = collections.defaultdict(lambda: [0, 0, 0, []])
    for r in found:
        if start <= r["t"] <= end:
            row = kinds[r["kind"]]
            row[0] += 1
            row[1] += r["documents"]
            row[2] += r["bytes"]
            if r["answer"] is not None:
                row[3].append(1000 * r["answer"])
    lines = [f"the busiest {window:g} s of message inserts, per second:",
             f"  {'request':58} {'/s':>7} {'docs/s':>8} {'KiB/s':>7} {'answer p50':>10} "
             f"{'p99 ms':>7}"]
    for kind, (n, documents, size, answers) in sorted(kinds.items(), key=lambda i: -i[1][0]):
        p50, p99 = ((percentile(answers, 50), percentile(answers, 99)) if answers
                    else (float("nan"),) * 2)
        lines.append(f"  {kind[:58]:58} {n / window:7.1f} {documents / window:8.1f} "
                     f"{size / window / 1024:7.1f} {p50:10.2f} {p99:7.2f}")
    return "\n".join(lines)


# py-spy counts a thread blocked in these as busy; the store's threads wait in them.
_WAITING = ("_recv_exactly", "_readable", "Condition.wait", "Event.wait", "poll", "select",
            "accept", "sleep")
# An insert's parts, by the first of these marks its stack holds (the store's functions).
INSERT_PARTS = [
    ("the index catalog re-read per document", "Storage._index_options_map"),
    ("the commit (WiredTiger commit, log sync)", "_commit_batch_transaction"),
    ("the unique probe of (conversation_id, seq)", "Storage._unique_conflict"),
    ("secondary index entries", "Storage._write_index_entries"),
    ("the _id entry", "Storage._write_nat_entry"),
    ("the per-chunk catalog walks", "Storage._all_indexes;Storage._partial_filters;"
                                    "Storage._multikey_index_names"),
    ("the document row and the rest of a chunk", "Storage._insert_chunk"),
    ("the command (validation, _id, encoding)", ""),
]


def _outside(names: list[str]) -> str:
    """What a sample outside any command's handler is doing."""
    if not names[0].startswith("Thread._bootstrap"):
        return "(stacks py-spy read only in part)"
    if "read_message" in names:
        return "reading requests"
    if "build_op_msg_reply" in names or names[-1].endswith("_handle_client"):
        # Its `sendall` wakes Nirvana, which may take the shared core there and then.
        return "sending replies"
    return "outside a command: other"


def store_parts(collapsed: Path) -> str:
    """A py-spy raw profile of the store split by command (the function `dispatch` called)
    and an insert's samples by `INSERT_PARTS`; samples of threads waiting are left out."""
    commands: collections.Counter[str] = collections.Counter()
    parts: collections.Counter[str] = collections.Counter()
    waiting = 0
    for line in collapsed.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        names = [frame.split(" (")[0] for frame in stack.split(";")]
        if names[-1].rsplit(".", 1)[-1] in _WAITING or names[-1] in _WAITING:
            waiting += int(n)
            continue
        command = (names[names.index("dispatch") + 1] if "dispatch" in names[:-1]
                   else _outside(names))
        commands[command] += int(n)
        if command == "_insert":
            flat = ";".join(names)
            parts[next(name for name, marks in INSERT_PARTS
                       if any(m in flat for m in marks.split(";")))] += int(n)
    busy = sum(commands.values()) or 1
    lines = [f"  {busy} busy samples ({waiting} of threads waiting left out); by command:"]
    lines += [f"    {100 * n / busy:5.1f}%  {name}" for name, n in commands.most_common(8)]
    lines.append("  an insert's parts (% of the busy samples):")
    lines += [f"    {100 * parts[name] / busy:5.1f}%  {name}" for name, _ in INSERT_PARTS
              if parts[name]]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.store_requests", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pcap", type=Path)
    parser.add_argument("--port", type=int, required=True, help="the store's port")
    parser.add_argument("--window", type=float, default=15.0)
    parser.add_argument("--profile", type=Path, help="a py-spy raw profile of the store")
    args = parser.parse_args(argv)
    skipped: collections.Counter[str] = collections.Counter()
    print(table(requests(args.pcap, args.port, skipped), args.window))
    if skipped["gaps"]:
        print(f"{skipped['gaps']} gaps (bytes missing, or a capture begun mid-message): "
              "the counts are lower bounds")
    if skipped["not IPv4"]:
        print(f"{skipped['not IPv4']} segments not IPv4 (e.g. ::1) skipped: only IPv4 is read")
    if args.profile:
        print(f"the store ({args.profile}):\n{store_parts(args.profile)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
