"""Bad client input on the socket: answered with an error frame or closed with the documented
code, and never logged as a server fault (no error-level record, no traceback)."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
import websockets

from tests.support.chat_client import Client
from tests.support.people import befriend, user


def faults(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def closed_with(ws) -> int | None:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 3)
    except websockets.ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None


async def pair(live):
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    ca = await Client.connect(live.ws, a)
    cid = (await ca.command("open_direct", user_id=b["id"]))["conversation"]["id"]
    return ca, cid


@pytest.mark.parametrize("payload", [
    b"\xff\xfe{}",                                   # not UTF-8 at all
    b'{"type": "ping", "id": "\xc3\x28"}',           # a broken two-byte sequence
    b'{"type": "ping", "id": "\xed\xa0\x80"}',       # an encoded surrogate
])
async def test_a_text_frame_that_is_not_utf8_closes_1007_without_a_traceback(live, caplog,
                                                                              payload):
    ca, _ = await pair(live)
    caplog.clear()
    await ca.ws.send(payload, text=True)
    assert await closed_with(ca.ws) == 1007
    await asyncio.sleep(0.05)
    assert faults(caplog) == []


async def test_bad_frames_are_answered_and_never_logged_as_faults(live, caplog):
    ca, cid = await pair(live)
    caplog.clear()
    bad = [
        ("{not json", "invalid_json"),
        ("[" * 5000 + "]" * 5000, "invalid_json"),      # nested past the parser's limit
        ('"just a string"', "invalid_frame"),
        ('{"type": "nope", "id": "u"}', "unknown_command"),
        ('{"type": "ping", "id": "x", "extra": 1}', "invalid_command"),
        ('{"type": "read", "id": "f", "conversation_id": "%s", "seq": 1e400}' % cid,
         "invalid_json"),                                # past a double: the parser refuses
        ('{"type": "history", "id": "n", "conversation_id": "%s", "before": %d}'
         % (cid, 10 ** 40), None),
        ('{"type": "read", "id": "r", "conversation_id": "%s", "seq": %d}' % (cid, 10 ** 40),
         None),
        ('{"type": "history", "id": "n", "conversation_id": "%s", "before": %d}'
         % (cid, 2 ** 63), "value_out_of_range"),        # past what BSON holds
        ('{"type": "send", "id": "s", "conversation_id": "%s", "client_id": "c",'
         ' "text": "\\ud800"}' % cid, None),                 # a lone surrogate, escaped
        ('{"type": "react", "id": "e", "conversation_id": "%s", "seq": %d, "emoji": "x"}'
         % (cid, 10 ** 30), None),
    ]
    for text, code in bad:
        await ca.ws.send(text)
        answer = await ca.recv()  # checked against the served schema
        assert answer["type"] == "error", (text[:60], answer)
        if code is not None:
            assert answer["code"] == code, (text[:60], answer)
    await ca.ws.send(b"\x00\x01")
    answer = await ca.recv()  # checked against the served schema
    assert answer["code"] == "binary_not_supported"
    assert (await ca.command("ping"))["type"] == "pong"  # still open after all of it
    assert faults(caplog) == []


async def test_an_oversize_frame_closes_1009_without_a_traceback(live, caplog):
    ca, _ = await pair(live)
    caplog.clear()
    await ca.ws.send(json.dumps({"type": "ping", "id": "x" * (70 * 1024)}))
    assert await closed_with(ca.ws) == 1009
    await asyncio.sleep(0.05)
    assert faults(caplog) == []


async def test_a_malformed_since_closes_1008_without_a_traceback(live, caplog):
    a = await user(live.http)
    caplog.clear()
    ws = await websockets.connect(f"{live.ws}?token={a['jwt']}&since=99999999999999999999")
    assert await closed_with(ws) == 1008
    assert faults(caplog) == []
