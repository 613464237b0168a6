"""The frame's way from uvicorn's protocol to the endpoint, old and new, in one process:
a loop callback hands the protocol a text frame (as data_received does), the endpoint's
task awaits it. Blocks of N alternated, process_time, median of paired differences.

A is the base's (9f6c0a0, main when the branch forked) `nirvana/ws/transport.py`, loaded
from `git show 9f6c0a0:nirvana/ws/transport.py`: its DirectSendProtocol (uvicorn's
asyncio.Queue, its text message decoded twice), read through Starlette's
`WebSocket.receive` and uvicorn's `receive`, as the base's endpoint did. B is the branch's
DirectSendProtocol read through `nirvana.receive` (its `receive`, on the `_Inbox`).
Run from the branch tree: `python bench/results/2026-12-07-cpu20k-micro/receive_ab.py`."""
import asyncio, importlib.util, statistics, subprocess, sys, tempfile, time
sys.path.insert(0, ".")
import uvicorn
import uvloop
from starlette.websockets import WebSocket, WebSocketState
from uvicorn.server import ServerState
from websockets.frames import Frame, Opcode
from tests.support.direct_sockets import Transport, reading_protocol

BASE = "9f6c0a0"


def base_protocol():
    source = subprocess.run(["git", "show", f"{BASE}:nirvana/ws/transport.py"],
                            check=True, capture_output=True).stdout
    with tempfile.NamedTemporaryFile("wb", suffix=".py", delete=False) as f:
        f.write(source)
    spec = importlib.util.spec_from_file_location("base_transport", f.name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    async def app(scope, receive, send):
        raise AssertionError

    config = uvicorn.Config(app, ws=module.DirectSendProtocol, lifespan="off")
    config.load()
    protocol = module.DirectSendProtocol(config, ServerState(), {})
    protocol.transport = Transport()
    assert isinstance(protocol.queue, asyncio.Queue)
    return protocol


N, PAIRS = 20000, 41
TEXT = '{"type":"send","id":"1:12345","conversation_id":"6571a2b3c4d5e6f708192a3b","client_id":"a1b2c3d4|1:12345","text":"' + "x" * 80 + '"}'

async def main():
    loop = asyncio.get_running_loop()
    old = base_protocol()
    new, _ = reading_protocol()
    ws = WebSocket({"type": "websocket", "path": "/ws", "headers": []}, old.receive, None)
    ws.client_state = WebSocketState.CONNECTED
    frame = Frame(Opcode.TEXT, TEXT.encode())
    for p in (old, new):
        p.handshake_complete = True

    async def block(protocol, receive):
        t = time.process_time()
        for _ in range(N):
            loop.call_soon(protocol.handle_text, frame)
            m = await receive()
        assert m["text"] == TEXT
        return (time.process_time() - t) / N * 1e6

    a_t, b_t, d = [], [], []
    for i in range(PAIRS):
        if i % 2 == 0:
            a = await block(old, ws.receive); b = await block(new, new.receive)
        else:
            b = await block(new, new.receive); a = await block(old, ws.receive)
        a_t.append(a); b_t.append(b); d.append(a - b)
    s = sorted(d)
    print(f"base {statistics.median(a_t):.2f} branch {statistics.median(b_t):.2f} µs per frame; "
          f"paired difference median {statistics.median(d):.2f} (IQR {s[PAIRS//4]:.2f}-{s[3*PAIRS//4]:.2f})")

uvloop.run(main())
