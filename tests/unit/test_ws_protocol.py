"""The WebSocket protocol codec, fed strings: no sockets, no event loop."""

from __future__ import annotations

import json

import pytest

from nirvana.schema_text import controls_ruled_out
from nirvana.ws import commands as c
from nirvana.ws import events as ev
from nirvana.ws import protocol as p
from nirvana.ws.close_codes import CloseCode


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_parse_send_command():
    cmd = p.parse(json.dumps({"type": "send", "id": "r1", "conversation_id": "c1",
                              "client_id": "k1", "text": "hi"}))
    assert isinstance(cmd, c.Send)
    assert (cmd.id, cmd.conversation_id, cmd.client_id, cmd.text, cmd.kind) == \
        ("r1", "c1", "k1", "hi", "text")


def test_read_and_delivered_share_a_model():
    cmd = p.parse('{"type": "read", "id": "r", "conversation_id": "c", "seq": 4}')
    assert isinstance(cmd, c.Mark) and cmd.type == "read" and cmd.seq == 4


def test_invalid_json_is_an_error_not_an_exception_to_the_socket():
    with pytest.raises(p.ProtocolError) as info:
        p.parse("{nope")
    assert info.value.code == "invalid_json"


def test_non_object_frame():
    with pytest.raises(p.ProtocolError) as info:
        p.parse("[1, 2]")
    assert info.value.code == "invalid_frame"


def test_unknown_command_names_the_type_and_keeps_the_request_id():
    with pytest.raises(p.ProtocolError) as info:
        p.parse('{"type": "explode", "id": "r9"}')
    assert info.value.code == "unknown_command"
    assert "'explode'" in info.value.message
    assert info.value.request_id == "r9"
    with pytest.raises(p.ProtocolError) as info:
        p.parse('{"id": "r9"}')
    assert info.value.code == "unknown_command"
    assert info.value.message.startswith('The frame has no "type"; expected one of ')


def test_invalid_fields_are_named():
    with pytest.raises(p.ProtocolError) as info:
        p.parse('{"type": "send", "id": "r2", "conversation_id": "c", "surprise": 1}')
    err = info.value
    assert err.code == "invalid_command" and err.request_id == "r2"
    fields = {d["field"] for d in err.details}
    assert {"client_id", "surprise"} <= fields


def test_encode_event_drops_nulls():
    text = ev.encode(ev.Error(id="r1", code="not_member", message="no"))
    assert json.loads(text) == {"type": "error", "id": "r1", "code": "not_member",
                                "message": "no"}


def test_oversized_frame_requests_close_1009():
    conn = p.ServerConnection(p.Limits(max_frame_bytes=100), Clock())
    out = conn.receive("x" * 101)
    assert isinstance(out, ev.Error)
    assert conn.close is not None and conn.close[0] == CloseCode.MESSAGE_TOO_BIG == 1009


def test_rate_limit_answers_errors_then_closes_on_sustained_abuse():
    clock = Clock()
    conn = p.ServerConnection(p.Limits(commands_per_second=2, command_burst=3,
                                       max_refusals=5, rate_grace_refusals=1), clock)
    ping = '{"type": "ping", "id": "x"}'
    results = [conn.receive(ping) for _ in range(3)]
    assert all(isinstance(r, c.Ping) for r in results)
    limited = conn.receive(ping)
    assert isinstance(limited, ev.Error) and limited.code == "rate_limited"
    assert limited.id == "x" and limited.retry_after and conn.close is None
    clock.t += 1.0
    for _ in range(9):  # 2 tokens and the grace came back: 2 run, 1 free, 6 counted
        conn.receive(ping)
    assert conn.close is not None and conn.close[0] == CloseCode.POLICY_VIOLATION


def send_frame(n: int) -> str:
    return json.dumps({"type": "send", "id": f"s{n}", "client_id": f"c{n}",
                       "conversation_id": "0" * 24, "text": f"x{n}"})


def test_a_backlog_read_at_once_after_a_stall_is_refused_not_closed():
    # 15 sends/s held for 5 s by a paused server or network arrive in one burst.
    clock = Clock()
    conn = p.ServerConnection(p.Limits(), clock)
    answers = [conn.receive(send_frame(n)) for n in range(75)]
    refused = [a for a in answers if isinstance(a, ev.Error)]
    assert len(refused) == 35 and all(a.code == "rate_limited" for a in refused)
    assert [a.id for a in refused] == [f"s{n}" for n in range(40, 75)]
    assert conn.close is None
    # The client goes on at its 15/s and is served.
    for n in range(75, 75 + 150):
        clock.t += 1 / 15
        assert isinstance(conn.receive(send_frame(n)), c.Send)
    assert conn.close is None


def test_refused_commands_retried_at_their_retry_after_are_accepted():
    clock = Clock()
    conn = p.ServerConnection(p.Limits(), clock)
    answers = [conn.receive(send_frame(n)) for n in range(75)]
    refused = sorted((a.retry_after, a.id) for a in answers if isinstance(a, ev.Error))
    assert len({after for after, _ in refused}) == 35  # spread out, not one instant
    start = clock.t
    for after, request_id in refused:
        clock.t = start + after
        retried = conn.receive(send_frame(int(request_id[1:])))
        assert isinstance(retried, c.Send) and retried.id == request_id
    assert conn.close is None


def flood(conn: p.ServerConnection, clock: Clock, sending, per_tick: int,
          seconds: float) -> int:
    """Frames sent `per_tick` every 10 ms while `sending(elapsed)`, until the close or
    `seconds`; every one must get its answer. Returns how many were answered."""
    start, answered, n = clock.t, 0, 0
    while conn.close is None and clock.t - start < seconds:
        if sending(clock.t - start):
            for _ in range(per_tick):
                n += 1
                answer = conn.receive(send_frame(n))
                assert isinstance(answer, (c.Send, ev.Error))
                answered += 1
                if conn.close is not None:
                    break
        clock.t += 0.01
    return answered


def most_answered(limits: p.Limits, seconds: float) -> float:
    # The bucket and the grace, what both refill in `seconds`, and the counted refusals
    # that close.
    return (limits.command_burst + limits.rate_grace_refusals
            + 2 * limits.commands_per_second * seconds + limits.max_refusals + 1)


def test_a_steady_flood_closes_1008_after_the_grace():
    clock = Clock()
    limits = p.Limits()
    conn = p.ServerConnection(limits, clock)
    answered = flood(conn, clock, lambda _: True, 20, limits.abuse_window_seconds)
    assert conn.close is not None and conn.close[0] == CloseCode.POLICY_VIOLATION
    assert answered <= most_answered(limits, clock.t - 1000.0)


@pytest.mark.parametrize("per_tick, on, period", [
    (20, 0.1, 2.0),  # 200 frames at once every 2 s: the grace is used up by the first
    (2, 1.9, 4.1),   # 200/s for 1.9 s, then a pause long enough for the bucket to fill
])
def test_an_on_off_flood_closes_1008_within_the_abuse_window(per_tick, on, period):
    # Pausing refills the grace at the command rate only: the second burst is counted.
    clock = Clock()
    limits = p.Limits()
    conn = p.ServerConnection(limits, clock)
    answered = flood(conn, clock, lambda t: t % period < on, per_tick,
                     limits.abuse_window_seconds)
    assert conn.close is not None and conn.close[0] == CloseCode.POLICY_VIOLATION
    assert answered <= most_answered(limits, clock.t - 1000.0)


def test_an_honest_client_retrying_after_a_stall_while_sending_on_is_never_closed():
    # 15 sends/s; a 5 s stall delivers its backlog at once; every refused send is sent again
    # at its retry_after while new ones go on at 15/s. All are stored, the socket stays.
    clock = Clock()
    conn = p.ServerConnection(p.Limits(), clock)
    start = clock.t
    due: list[tuple[float, int]] = []  # (when it reaches the server, send number)
    for n in range(15 * 40):
        sent = n / 15
        due.append((15.0 if 10.0 <= sent < 15.0 else sent, n))
    accepted, refused = set(), 0
    while due:
        due.sort()
        at, n = due.pop(0)
        clock.t = start + at
        answer = conn.receive(send_frame(n))
        assert conn.close is None
        if isinstance(answer, ev.Error):
            assert answer.code == "rate_limited" and answer.id == f"s{n}"
            refused += 1
            due.append((at + answer.retry_after, n))
        else:
            accepted.add(answer.id)
    assert refused > 35 and len(accepted) == 15 * 40  # retries were refused again, in grace


def retrying_client(conn: p.ServerConnection, clock: Clock, arrivals: list[float]) -> int:
    """Sends reaching the server at `arrivals` (seconds from now), each refused one sent
    again at its retry_after, as the web client does. Returns how many were refused."""
    start, refused = clock.t, 0
    due = sorted((at, n) for n, at in enumerate(arrivals))
    while due:
        at, n = due.pop(0)
        clock.t = start + at
        answer = conn.receive(send_frame(n))
        assert conn.close is None, f"closed at {at:.2f} s after {refused} refusals"
        if isinstance(answer, ev.Error):
            assert answer.code == "rate_limited" and answer.id == f"s{n}"
            refused += 1
            due.append((at + answer.retry_after, n))
            due.sort()
    return refused


def test_an_honest_client_whose_stalls_recur_is_never_closed():
    # 10 sends/s over a network that holds them 5 s of every 8 (each backlog arrives at
    # once): the grace refills between the stalls, as it did not with one grace per 10 s.
    clock = Clock()
    conn = p.ServerConnection(p.Limits(), clock)
    arrivals = []
    for n in range(10 * 120):
        sent = n / 10
        arrivals.append(sent - sent % 8 + 5 if sent % 8 < 5 else sent)
    assert retrying_client(conn, clock, arrivals) > 200  # more than one grace's worth


@pytest.mark.parametrize("rate", [50, 100, 1000])
def test_a_steady_sender_above_the_bound_is_closed_one_below_it_never(rate):
    # Per second the bucket runs 20 and the grace refills 20: 40/s are answered for ever,
    # and r/s above about 42 closes within 261 / (r - 40) s (docs/protocol.md).
    limits = p.Limits()
    for per_second, seconds in ((40, 300.0), (rate, 261 / (rate - 40))):
        clock = Clock()
        conn = p.ServerConnection(limits, clock)
        start, n = clock.t, 0
        while conn.close is None and n / per_second <= seconds:
            clock.t = start + n / per_second
            conn.receive(send_frame(n))
            n += 1
        assert (conn.close is None) == (per_second == 40)
        if conn.close is not None:
            assert conn.close[0] == CloseCode.POLICY_VIOLATION


def test_retry_after_is_at_most_the_abuse_window():
    clock = Clock()
    limits = p.Limits(max_refusals=10_000)
    conn = p.ServerConnection(limits, clock)
    waits = []
    for n in range(2000):
        answer = conn.receive(send_frame(n))
        if isinstance(answer, ev.Error):
            waits.append(answer.retry_after)
    assert max(waits) == limits.abuse_window_seconds
    clock.t += 60  # a later episode starts from now, not from the flood's promises
    for n in range(40):
        conn.receive(send_frame(n))
    assert conn.receive(send_frame(0)).retry_after <= 1 / limits.commands_per_second


@pytest.mark.parametrize("start", [15.0, 6.042, 122.62, 1000.0])  # float-noise clock values
def test_retry_after_is_one_token_apart_and_never_above_the_window(start):
    clock = Clock()
    clock.t = start
    limits = p.Limits(max_refusals=10_000)
    conn = p.ServerConnection(limits, clock)
    waits = [a.retry_after for a in (conn.receive(send_frame(n)) for n in range(500))
             if isinstance(a, ev.Error)]
    step = 1 / limits.commands_per_second
    assert waits[:5] == [round(step * k, 3) for k in range(1, 6)]  # 0.05, 0.1, … exactly
    assert max(waits) == limits.abuse_window_seconds
    clock.t += 0.001  # `now + window` minus `now` is not always exactly the window
    assert all(conn.receive(send_frame(0)).retry_after <= limits.abuse_window_seconds
               for _ in range(50))


def test_a_refused_frame_is_answered_with_its_id_whatever_it_holds():
    conn = p.ServerConnection(p.Limits(command_burst=1, max_refusals=100), Clock())
    conn.receive('{"type": "ping"}')
    for frame, request_id in [(send_frame(7), "s7"), ('{"type": "nope", "id": "q"}', "q"),
                              ('{"type": "ping", "id": 5}', None), ("garbage", None),
                              ('["a"]', None)]:
        answer = conn.receive(frame)
        assert answer.code == "rate_limited" and answer.id == request_id


def test_an_invalid_string_id_is_echoed_alike_by_a_refusal_and_by_parse():
    # One rule for every error's id (docs/protocol.md, Errors): a string is echoed as sent.
    long_id = "i" * 100
    frame = json.dumps({"type": "ping", "id": long_id})
    conn = p.ServerConnection(p.Limits(command_burst=1, max_refusals=100), Clock())
    invalid = conn.receive(frame)
    assert invalid.code == "invalid_command" and invalid.id == long_id
    limited = conn.receive(frame)
    assert limited.code == "rate_limited" and limited.id == long_id


def test_invalid_frames_count_from_the_first():
    clock = Clock()
    conn = p.ServerConnection(p.Limits(max_refusals=3), clock)
    for _ in range(4):
        assert isinstance(conn.receive("garbage"), ev.Error)
    assert conn.close is not None and conn.close[0] == CloseCode.POLICY_VIOLATION


def test_binary_frames_count_from_the_first():
    conn = p.ServerConnection(p.Limits(max_refusals=3), Clock())
    for _ in range(4):
        assert conn.receive_binary().code == "binary_not_supported"
    assert conn.close is not None and conn.close[0] == CloseCode.POLICY_VIOLATION


def test_rate_limit_refills_with_time():
    clock = Clock()
    conn = p.ServerConnection(p.Limits(commands_per_second=1, command_burst=1), clock)
    assert isinstance(conn.receive('{"type":"ping","id":"a"}'), c.Ping)
    assert isinstance(conn.receive('{"type":"ping","id":"b"}'), ev.Error)
    clock.t += 1.0
    assert isinstance(conn.receive('{"type":"ping","id":"c"}'), c.Ping)


def test_an_occasional_bad_frame_never_closes():
    clock = Clock()
    conn = p.ServerConnection(p.Limits(max_refusals=3, abuse_window_seconds=1), clock)
    for _ in range(10):
        assert isinstance(conn.receive("garbage"), ev.Error)
        clock.t += 1.0
    assert conn.close is None


def test_json_schema_covers_every_command_and_event():
    schema = json.dumps(p.json_schema())
    for name in ("Send", "Mark", "Resume", "Hello", "NewMessage", "ResyncRequired",
                 "ConversationUpdated", "OnlineUsers"):
        assert f'"{name}"' in schema
    assert p.json_schema()["close_codes"]["slow_consumer"] == 4008


def _send_frame(ensure_ascii: bool, **fields: object) -> str:
    frame = {"type": "send", "id": "r1", "conversation_id": "c1", "client_id": "k1",
             "text": "hi", **fields}
    return json.dumps(frame, ensure_ascii=ensure_ascii)


@pytest.mark.parametrize("ensure_ascii", [True, False])
@pytest.mark.parametrize("field,value,where", [
    ("client_id", "k\u0001", "U+0001 at 1"),  # C0: always escaped in JSON
    ("conversation_id", "c\x7f", "U+007F at 1"),  # DEL: raw when not ensure_ascii
    ("text", "a\u0085b", "U+0085 at 1"),  # C1, in a multiline field
    ("text", "a\x00", "U+0000 at 1"),
])
def test_a_control_character_in_any_form_is_refused_naming_its_field(
        ensure_ascii: bool, field: str, value: str, where: str) -> None:
    with pytest.raises(p.ProtocolError) as info:
        p.parse(_send_frame(ensure_ascii, **{field: value}))
    assert info.value.details == [{
        "field": field, "code": "invalid_character",
        "message": f"must not contain control characters ({where})"}]


def test_a_control_character_in_a_nested_field_is_refused():
    frame = _send_frame(False, attachments=[{"url": "https://x.example/a", "name": "a\x9fb"}])
    with pytest.raises(p.ProtocolError) as info:
        p.parse(frame)
    assert [d["code"] for d in info.value.details] == ["invalid_character"]


@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_printable_text_line_breaks_and_invisible_characters_pass(ensure_ascii: bool):
    for text in ("é 😀 ünïcode", "two\nlines\tand a tab", "zero\u200bwidth"):
        assert p.parse(_send_frame(ensure_ascii, text=text)).text == text


def test_no_control_character_can_hide_in_a_frame_ruled_clean():
    controls = [chr(i) for i in [*range(0x20), *range(0x7F, 0xA0)]]
    for ch in controls:
        for ensure_ascii in (True, False):
            assert not controls_ruled_out(json.dumps({"text": f"a{ch}"},
                                                     ensure_ascii=ensure_ascii))
    assert controls_ruled_out(json.dumps({"text": "plain é 😀"}, ensure_ascii=False))
