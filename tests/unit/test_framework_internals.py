"""The framework internals Nirvana builds on are still the shape it expects.

`ws/transport.py` subclasses uvicorn's sans-I/O WebSocket protocol and reads websockets'
protocol state; run.py's `Server` overrides uvicorn's shutdown and reads its listeners and
connections; tests/support/servers.py's `TestServer` replaces uvicorn's `main_loop`;
`http/router.py` and `app.py` replace Starlette's router scan and middleware
stack. Their pins have upper bounds (pyproject.toml); when a new release is allowed in, these
tests name what changed before a socket or a route breaks in a subtler way.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import re

import starlette.routing
from starlette.applications import Starlette
from uvicorn.config import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from nirvana.ws.transport import text_frame


def missing(obj: object, names: list[str]) -> list[str]:
    return [n for n in names if not hasattr(obj, n)]


async def test_uvicorn_sans_io_protocol_still_has_what_transport_py_overrides_and_reads():
    async def app(scope, receive, send):
        pass

    config = Config(app=app, ws="websockets-sansio")
    config.load()
    protocol = WebSocketsSansIOProtocol(config, ServerState(), app_state={},
                                        _loop=asyncio.get_running_loop())
    gone = missing(WebSocketsSansIOProtocol, ["handle_connect", "send_receive_event_to_app",
                                              "send"])
    gone += missing(protocol, ["read_paused", "queue", "handshake_complete", "close_sent",
                               "disconnected", "writable", "transport", "conn"])
    assert not gone, f"uvicorn's WebSocketsSansIOProtocol no longer has {gone}: " \
        "nirvana/ws/transport.py (DirectSendProtocol) must follow it"
    # DirectSendProtocol's `_Inbox` stands in for the protocol's asyncio.Queue: it has only
    # what uvicorn calls on it.
    source = inspect.getsource(WebSocketsSansIOProtocol)
    called = set(re.findall(r"self\.queue\.(\w+)\(", source))
    assert called <= {"put_nowait", "empty", "get"}, \
        f"uvicorn's protocol now calls {called} on its queue: nirvana/ws/transport.py `_Inbox`"
    # ... and reaches it only as `self.queue` (an alias would escape the check above).
    rest = re.sub(r"self\.queue\.\w+\(|self\.queue(: [^=\n]+)? = asyncio\.Queue\(\)", "", source)
    assert "self.queue" not in rest, \
        "uvicorn's protocol uses its queue in a new way: nirvana/ws/transport.py `_Inbox`"
    # DirectSendProtocol.send writes what a delivery pass kept before uvicorn's own write.
    assert inspect.iscoroutinefunction(WebSocketsSansIOProtocol.send), \
        "uvicorn's ASGI send is no longer a coroutine method: DirectSendProtocol.send"
    assert isinstance(protocol.conn, ServerProtocol), \
        "uvicorn's sans-I/O protocol no longer wraps websockets' ServerProtocol"


async def test_uvicorn_server_still_has_what_run_py_overrides_and_reads():
    from uvicorn.protocols.http.h11_impl import H11Protocol
    from uvicorn.server import Server

    config = Config(app=lambda scope, receive, send: None, ws="websockets-sansio")
    config.load()
    server = Server(config)
    gone = missing(Server, ["capture_signals", "handle_exit", "startup"])
    gone += missing(server, ["server_state", "config"])
    gone += missing(server.server_state, ["connections"])
    gone += missing(config, ["ws_protocol_class", "loaded_app", "timeout_graceful_shutdown"])
    gone += missing(H11Protocol, ["shutdown"])
    assert not gone, f"uvicorn no longer has {gone}: run.py's Server must follow it"
    assert list(inspect.signature(Server.shutdown).parameters) == ["self", "sockets"], \
        "uvicorn's Server.shutdown(sockets) changed: run.py's Server overrides it"
    # `servers` is set by startup, not __init__: read from its source.
    assert "self.servers" in inspect.getsource(Server.startup), \
        "uvicorn's Server.startup no longer keeps `servers`: run.py closes them first"


# sha256 of uvicorn 0.55.0's sources of the WebSocketsSansIOProtocol methods that
# nirvana/ws/transport.py copies (the text path of send_receive_event_to_app, which
# DirectSendProtocol's own replaces) or relies on: the endpoint awaits `receive` (take, then
# resume reading once nothing waits), handle_text and handle_cont gather a message's
# fragments in `frames`, handle_parser_exception closes after a 1007.
UVICORN_WS_SOURCES_SHA256 = {
    "send_receive_event_to_app": "a2b10de91477dc1d4d0e7c9065b85388a5b2a6ebeb84d6ec1591e112ca0bfbb9",
    "receive": "1dc0e715390021a105cfe6abb35a730af9c5be3d71043329a39bbc1c5afe66bc",
    "handle_text": "6ae523180cf04a012bde88d4eb7fc1429d4e60ee8dc7cbf0f004288a3e657a8f",
    "handle_cont": "d96fe1479da61bebd408bd812c86df203b4761907dcf0cf70d189e72fd2209ef",
    "handle_parser_exception": "ff5cf13c764fb332d124367895edb812e52d61eb00e5f637fb88aa81bbb9667f",
}


def test_uvicorn_sans_io_receive_path_is_the_one_transport_py_copies():
    # The bodies, not only their names: any change to their text, even of layout, fails this.
    changed = [name for name, digest in UVICORN_WS_SOURCES_SHA256.items()
               if hashlib.sha256(inspect.getsource(getattr(WebSocketsSansIOProtocol, name))
                                 .encode()).hexdigest() != digest]
    assert not changed, \
        (f"uvicorn's WebSocketsSansIOProtocol.{changed} changed: compare with "
         "nirvana/ws/transport.py (DirectSendProtocol.send_receive_event_to_app, `_Inbox`, "
         "the endpoint's nirvana.receive) and update both (and the digests)")


# sha256 of uvicorn 0.55.0's Server.main_loop source, which TestServer copies but for the sleep.
UVICORN_MAIN_LOOP_SHA256 = "afccb353a119333f206ffa120abc9efdc46a1ac60fe93485acfda2a271d75a62"


def test_uvicorn_server_still_ticks_through_what_the_tests_server_overrides():
    from uvicorn.server import Server

    # The body, not only its shape: TestServer replaces main_loop outright, so anything a
    # new release adds there (a shutdown trigger, a check per tick) the tests' servers would
    # silently lack. Any change to its text, even of layout, fails this.
    source = inspect.getsource(Server.main_loop)
    assert hashlib.sha256(source.encode()).hexdigest() == UVICORN_MAIN_LOOP_SHA256, \
        ("uvicorn's Server.main_loop changed: compare it with tests/support/servers.py's "
         "TestServer.main_loop and update both (and the digest)")
    assert list(inspect.signature(Server.on_tick).parameters) == ["self", "counter"], \
        "uvicorn's Server.on_tick(counter) changed: TestServer's loop calls it"
    assert "await self.main_loop()" in inspect.getsource(Server), \
        "uvicorn's Server no longer serves through main_loop: TestServer's would not run"


def test_websockets_protocol_state_is_what_the_direct_send_path_reads():
    conn = ServerProtocol()
    gone = missing(conn, ["state", "extensions", "writes", "expect_continuation_frame",
                          "send_text", "data_to_send"])
    assert not gone, f"websockets' ServerProtocol no longer has {gone}: " \
        "nirvana/ws/transport.py (send_now) must follow it"
    assert State.OPEN in State


def test_a_shared_text_frame_is_the_frame_websockets_would_send():
    conn = ServerProtocol()
    conn.state = State.OPEN
    conn.send_text("héllo".encode())
    assert b"".join(conn.data_to_send()) == text_frame("héllo"), \
        "websockets frames a server's text differently: nirvana/ws/transport.py text_frame"
    assert Frame(Opcode.TEXT, b"x").serialize(mask=False, extensions=[]) == b"\x81\x01x"


def test_starlette_router_and_app_internals_that_router_py_and_app_py_replace():
    from starlette._utils import get_route_path  # noqa: F401  (ImportError names the change)

    assert "app" in vars(starlette.routing.Router), \
        "Starlette's Router no longer dispatches in `app`: nirvana/http/router.py overrides it"
    route = starlette.routing.Route("/x", lambda request: None)
    gone = missing(route, ["matches", "handle", "app"])
    assert not gone, f"Starlette's Route no longer has {gone}: nirvana/http/router.py"
    assert {m.name for m in starlette.routing.Match} >= {"NONE", "PARTIAL", "FULL"}
    app = Starlette()
    gone = missing(app, ["middleware_stack", "user_middleware", "exception_handlers", "router"])
    assert not gone, f"Starlette's app no longer has {gone}: nirvana/app.py (NirvanaApp)"
    assert "self.middleware_stack" in inspect.getsource(Starlette.__call__), \
        "Starlette no longer calls `middleware_stack`: NirvanaApp's stack would be skipped"

