"""The benchmark's client of Nirvana's chat protocol, fed frames without a socket."""

from __future__ import annotations

import json

from bench.ws_clients import NirvanaAdapter, NirvanaConnection
from bench.ws_load import PADDING


def frame(**fields) -> str:
    return json.dumps(fields)


async def test_only_our_new_messages_are_delivered_and_unknown_frames_are_ignored():
    adapter = NirvanaAdapter("http://127.0.0.1:1", nonce="n1")
    got: list[str] = []
    conn = NirvanaConnection(adapter, "c1", got.append)
    conn.on_text(frame(type="hello", version=1, user_id=7, head=40,
                       resume_window={"max_events": 5000, "seconds": 604800.0}))
    assert conn.hello.done() and conn.last_pos == 40
    conn.on_text(frame(type="newMessage", pos=41, message={"client_id": "n1|3:17"}))
    conn.on_text(frame(type="newMessage", pos=42, message={"client_id": "other|3:18"}))
    conn.on_text(frame(type="message.edited", pos=43, message={"client_id": "n1|3:17"}))
    conn.on_text(frame(type="some.future.event", pos=44))
    conn.on_text(frame(type="error", id="x", code="rate_limited", message="slow down"))
    assert got == ["3:17"]
    assert conn.last_pos == 44
    assert adapter.errors == {"rate_limited": 1}
    assert adapter.frames["some.future.event"] == 1


async def test_an_answer_resolves_the_command_waiting_for_it():
    import asyncio

    adapter = NirvanaAdapter("http://127.0.0.1:1", nonce="n1")
    conn = NirvanaConnection(adapter, "c1", lambda key: None)
    sent: list[str] = []

    class FakeSocket:
        def send_text(self, text: str) -> None:
            sent.append(text)

    conn.ws = FakeSocket()  # type: ignore[assignment]
    waiting = asyncio.create_task(conn.request({"type": "resume", "id": "r1", "since": 5}))
    await asyncio.sleep(0)
    assert json.loads(sent[0]) == {"type": "resume", "id": "r1", "since": 5}
    conn.on_text(frame(type="resumed", id="r1", head=9))
    assert (await waiting)["head"] == 9
    conn.send("1:2")
    assert json.loads(sent[1]) == {"type": "send", "id": "1:2", "conversation_id": "c1",
                                   "client_id": "n1|1:2", "text": PADDING}
