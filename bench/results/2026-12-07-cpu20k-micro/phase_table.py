"""The per-send phase table of docs/performance.md (2026-12-07 day, issue 22): py-spy GIL
samples of Nirvana (bench.profile_chat) and of the floor (bench.profile_floor) grouped alike,
as µs per send (a sample is 10 ms; 30,000 sends at 2,000/s, 15,000 at 1,000/s). Run from the
repository root."""
import collections, sys
sys.path.insert(0, ".")
from bench.profile_chat import PHASES

GROUPS = [  # (group, test on the stack)
    ("read: the pong to the lag probe's pings", lambda s: "handle_ping" in s),
    ("read: websockets' parser, uvicorn's data_received", lambda s: any(m in s for m in (
        "WebSocketsSansIOProtocol.data_received", "websockets/frames.py", "websockets/protocol.py:5",
        "websockets/protocol.py:6", "websockets/streams.py", "Protocol.receive_data",
        "Connection.data_received", "ServerProtocol.parse", "send_receive_event_to_app"))),
    ("read: the handler's wake (queue, receive)", lambda s: any(m in s for m in (
        "WebSocket.receive", "Queue.get", "Assembler", "SimpleQueue", "Connection.recv",
        "__aiter__", "WebSocketsSansIOProtocol.receive", "_Inbox"))
        or s.endswith(("chat_socket (nirvana/ws/endpoint.py:177)", "chat_socket (nirvana/ws/endpoint.py:166)"))),
    ("writes (frames to sockets, system calls included)", lambda s: any(m in s for m in (
        "DirectSendProtocol.uncork", "Hub.message_posted", "broadcast (websockets", "send_data",
        "Protocol.send_text", "Frame.serialize", "send_frame"))),
    ("parse and validate the command", lambda s: "ServerConnection.receive" in s or "pydantic" in s),
]
def classify_nirvana(stack):
    for g, t in GROUPS:
        if t(stack):
            return g
    name = next(n for n, marks in PHASES if any(m in stack for m in marks))
    return {"ack": "the ack",
            "fan-out: newMessage encoding": "newMessage encoding",
            "metrics": "domain and hub: metrics, listeners, cache",
            "listeners (missed messages, mentions)": "domain and hub: metrics, listeners, cache",
            "posted: cache and conversation state": "domain and hub: metrics, listeners, cache",
            "checks (text, membership, block, rate)": "domain: checks",
            "send: other (slots, task, clock)": "domain: the send (slots, task, clock, draft)",
            "queueing the write (draft, retry key, timer)": "domain: the send (slots, task, clock, draft)",
            "encoding for the store": "store: encoding, insert, writer",
            "insert (the store's socket)": "store: encoding, insert, writer",
            "numbering and answering (writer)": "store: encoding, insert, writer",
            "writer: other": "store: encoding, insert, writer",
            "store reads (pymongo)": "store: encoding, insert, writer",
            }.get(name, "event loop (in C) and other")

def table(path, sends, floor=False):
    c = collections.Counter(); tot = 0
    for line in open(path):
        stack, _, k = line.rstrip().rpartition(" ")
        if not k.isdigit(): continue
        k = int(k); tot += k
        c[classify_nirvana(stack)] += k
    return {g: n * 10_000 / sends for g, n in c.items()}, tot * 10_000 / sends

for rate, sends in ((2000, 30000), (1000, 15000)):
    n, nt = table(f"bench/results/2026-12-07-cpu20k-profile-{rate}/nirvana.txt", sends)
    f, ft = table(f"bench/results/2026-12-07-cpu20k-floor-{rate}/floor.txt", sends)
    print(f"== {rate} sends/s: nirvana {nt:.0f} µs GIL per send, floor {ft:.0f}")
    for g in sorted(set(n) | set(f), key=lambda g: -(n.get(g, 0))):
        print(f"| {g} | {n.get(g, 0):.1f} | {f.get(g, 0):.1f} | {n.get(g,0)-f.get(g,0):+.1f} |")
