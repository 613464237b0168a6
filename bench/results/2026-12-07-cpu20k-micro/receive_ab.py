"""The frame's way from uvicorn's protocol to the endpoint, old and new, in one process:
(Run from the branch tree, with main archived at /tmp/cpu20k-main.)
a loop callback hands the protocol a text frame (as data_received does), the endpoint's
task awaits it. Blocks of N alternated, process_time, median of paired differences."""
import asyncio, statistics, sys, time
sys.path.insert(0, ".")
import uvloop
from starlette.websockets import WebSocket, WebSocketState
from websockets.frames import Frame, Opcode
from tests.support.direct_sockets import reading_protocol

N, PAIRS = 20000, 41
TEXT = '{"type":"send","id":"1:12345","conversation_id":"6571a2b3c4d5e6f708192a3b","client_id":"a1b2c3d4|1:12345","text":"' + "x" * 80 + '"}'

async def main():
    loop = asyncio.get_running_loop()
    old, _ = reading_protocol(); old.queue = asyncio.Queue()  # main: uvicorn's queue
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
    print(f"main {statistics.median(a_t):.2f} branch {statistics.median(b_t):.2f} µs per frame; "
          f"paired difference median {statistics.median(d):.2f} (IQR {s[PAIRS//4]:.2f}-{s[3*PAIRS//4]:.2f})")

uvloop.run(main())
