"""How Nirvana is served: the listening socket, the event loop and uvicorn's options.

run.py uses them; so do the benchmark's ceilings (hello-JSON, the fan-out floor), so that a
ratio between the two compares Nirvana with the bare framework served exactly the same way.
"""

from __future__ import annotations

import asyncio
import gc
import socket
from typing import Any, Callable

from .settings import Settings
from .ws.transport import DirectSendProtocol

UVICORN_OPTIONS: dict[str, Any] = dict(
    log_config=None,
    access_log=False,  # Nirvana writes its own access line (nirvana/http/middleware.py)
    ws=DirectSendProtocol,  # uvicorn's websockets-sansio, plus direct sends (ws/transport.py)
    ws_max_size=64 * 1024,
    lifespan="on",
    timeout_graceful_shutdown=10,
    server_header=False,
    proxy_headers=False,
)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """UVICORN_OPTIONS with what the settings decide.

    No permessage-deflate on /ws unless WS_COMPRESSION is set, though every browser offers
    it (uvicorn accepts it by default): a compressing socket keeps its own zlib state, more
    than doubling the memory of an idle socket, and each delivered frame is compressed again
    for each recipient (docs/performance.md). Chat frames are a few hundred bytes."""
    return {**UVICORN_OPTIONS, "ws_per_message_deflate": settings.ws_compression}


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes the event loop `name` (Settings.event_loop, "uvloop" or "asyncio") for
    `asyncio.Runner`. uvloop by default: the chat path is transport writes, store round trips
    and loop turns, which it does for less CPU (figures: docs/performance.md, "The event
    loop"). Raises ImportError when uvloop is chosen but not installed (e.g. on Windows)."""
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    if name == "asyncio":
        return asyncio.new_event_loop
    raise ValueError(f"unknown event loop {name!r}")


# CPython's default thresholds ran frequent full collections under chat load, the largest of
# the latency spikes. With a first threshold of 50,000, short-lived objects (a send's tasks
# and frames) die before a collection can move them to an older generation, so the oldest
# grows slowly and full collections become rare (figures: docs/performance.md).
GC_THRESHOLDS = (50_000, 20, 10)


def tune_gc() -> None:
    """Before serving: freeze what start-up allocated (modules, models, routes: never
    garbage, so no collection need walk it again) and raise the thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def open_listener(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A bound, listening TCP socket for uvicorn; raises OSError (e.g. EADDRINUSE)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # without it a keep-alive response (uvicorn writes headers and body apart) waits for the
    # client's delayed ACK, which caps a connection at a few dozen requests a second.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock
