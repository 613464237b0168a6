"""The chat WebSocket protocol, sans I/O: text in, typed commands out; events in, text out.

Nothing here touches a socket or an event loop. `ServerConnection` holds the per-connection
rules (frame size, command rate) and is driven by `nirvana/ws/endpoint.py`:

    conn = ServerConnection(limits, clock)
    result = conn.receive(text)      # a Command, or an Error event to send back
    if conn.close is not None: ...   # the connection must be closed with (code, reason)
    text = events.encode(event)      # any ServerEvent

The commands it accepts are those of `command_table.py` (frames in `commands.py`); the
events it answers with are in `events.py`. The same pydantic models validate every frame and
generate the JSON Schema served at GET /api/v1/ws/schema; docs/protocol.md describes them
for client authors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Callable

import orjson
from pydantic import Field, TypeAdapter, ValidationError

from ..schema_text import CONTROLS_RULED_OUT, controls_ruled_out
from .close_codes import CloseCode
from .command_table import COMMAND_TYPES, Command
from .events import Error, ServerEvent
from .frames import PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class Limits:
    max_frame_bytes: int = 64 * 1024
    commands_per_second: float = 20.0
    command_burst: int = 40
    # Refused commands tolerated within `abuse_window_seconds` before closing with 1008.
    max_refusals: int = 20
    abuse_window_seconds: float = 10.0
    # Rate refusals not counted as abuse: a bucket of this many that refills at
    # `commands_per_second` (a backlog read at once after a stall was sent before any
    # refusal could be seen, and its retries follow it; stalls may recur). Pausing refills
    # it no faster than the commands themselves, so a flood's free refusals stay bounded.
    rate_grace_refusals: int = 200
    outgoing_queue: int = 512  # frames buffered per connection before SLOW_CONSUMER
    # Bytes buffered per connection, and for all of one user's connections, before
    # SLOW_CONSUMER: above the largest frame the server sends (a full history page).
    outgoing_queue_bytes: int = 4 << 20
    user_queue_bytes: int = 8 << 20
    sockets_per_user: int = 10
    heartbeat_seconds: float = 20.0
    inflight_sends: int = 64  # sends awaiting their durable write; beyond it, reading waits


_COMMAND_ADAPTER: TypeAdapter[Any] = TypeAdapter(Command)


class ProtocolError(Exception):
    """A frame that is not a valid command; answered with an error frame, not a close."""

    def __init__(self, code: str, message: str, request_id: str | None = None,
                 details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.details = details

    def to_event(self) -> Error:
        return Error(id=self.request_id, code=self.code, message=self.message,
                     details=self.details)


def parse(text: str) -> Any:
    """One client frame → a Command model. Raises ProtocolError naming the problem."""
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ProtocolError("invalid_json", "The frame is not valid JSON.") from None
    if not isinstance(raw, dict):
        raise ProtocolError("invalid_frame", "A frame is a JSON object with a \"type\".")
    request_id = raw.get("id") if isinstance(raw.get("id"), str) else None
    kind = raw.get("type")
    if kind not in COMMAND_TYPES:
        said = "The frame has no \"type\"" if kind is None else f"Unknown command type {kind!r}"
        raise ProtocolError("unknown_command", f"{said}; expected one of "
                            f"{', '.join(COMMAND_TYPES)}.", request_id)
    try:
        return _COMMAND_ADAPTER.validate_python(
            raw, strict=True, context=CONTROLS_RULED_OUT if controls_ruled_out(text) else None)
    except ValidationError as exc:
        details = [{"field": ".".join(str(p) for p in e["loc"][1:]) or "type",
                    "code": e["type"], "message": e["msg"]}
                   for e in exc.errors(include_url=False, include_input=False)]
        names = ", ".join(sorted({d["field"] for d in details}))
        raise ProtocolError("invalid_command", f"Invalid {kind} command: {names}.",
                            request_id, details) from None


def _request_id(text: str) -> str | None:
    """The id a refused frame's answer carries: what `parse` would give, without validating
    the command, so refusing a flood costs a JSON read and no more."""
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    request_id = raw.get("id") if isinstance(raw, dict) else None
    return request_id if isinstance(request_id, str) else None


class ServerConnection:
    """Per-connection protocol state: size and rate limits, and when to close.

    `receive(text)` returns the parsed command or the Error event to answer with; after any
    call, a non-None `close` is the (code, reason) the driver must close with, and nothing
    more should be fed in.
    """

    def __init__(self, limits: Limits, clock: Callable[[], float]) -> None:
        self.limits = limits
        self._clock = clock
        self._tokens = float(limits.command_burst)
        self._last = clock()
        self._refusals: list[float] = []
        # Free rate refusals left (the grace), refilled with the tokens.
        self._grace = float(limits.rate_grace_refusals)
        # When the next refused command may be retried: each refusal is promised its own
        # token, so refused commands retried at their `retry_after` come back at the rate
        # instead of in the burst that was refused.
        self._next_retry = 0.0
        self.close: tuple[CloseCode, str] | None = None

    def _take_token(self) -> bool:
        now = self._clock()
        refill = (now - self._last) * self.limits.commands_per_second
        self._tokens = min(self.limits.command_burst, self._tokens + refill)
        self._grace = min(self.limits.rate_grace_refusals, self._grace + refill)
        self._last = now
        # A token due at this instant counts, whatever the float rounding of the refill.
        if self._tokens >= 1 - 1e-9:
            self._tokens -= 1
            return True
        return False

    def _refused(self) -> None:
        # Sustained abuse (rate or garbage) closes; an occasional bad frame never does.
        now = self._clock()
        horizon = now - self.limits.abuse_window_seconds
        self._refusals = [t for t in self._refusals if t > horizon]
        self._refusals.append(now)
        if len(self._refusals) > self.limits.max_refusals:
            self.close = (CloseCode.POLICY_VIOLATION, "too many refused commands")

    def _rate_refused(self) -> float:
        """Count a rate refusal and return its `retry_after`."""
        # Abuse is to keep sending after being told: refusals within the grace do not count,
        # so a backlog read in one go after a stall, and its retries, are not abuse.
        now = self._clock()
        window = self.limits.abuse_window_seconds
        if self._grace >= 1 - 1e-9:
            self._grace -= 1
        else:
            self._refused()
        rate = self.limits.commands_per_second
        # Bounded: a flood must not be told to wait longer than the window it is judged on.
        wait = min(max(self._next_retry - now, (1 - self._tokens) / rate), window)
        self._next_retry = now + wait + 1 / rate
        # Whole milliseconds, rounded up, but not past float noise (0.05 s stays 0.05).
        return min(window, math.ceil(wait * 1000 - 1e-6) / 1000)

    def receive_binary(self) -> Error:
        """A binary frame: refused, takes a token, and counts towards 1008 from the first,
        like an invalid text frame, so a flood of them ends in 1008 like one of those."""
        self._take_token()
        self._refused()
        return Error(id=None, code="binary_not_supported", message="Send JSON text frames.")

    def receive(self, text: str) -> Any:
        # A character is at most 4 bytes of UTF-8: most frames need no encoding to know.
        if (len(text) * 4 > self.limits.max_frame_bytes
                and len(text.encode("utf-8")) > self.limits.max_frame_bytes):
            self.close = (CloseCode.MESSAGE_TOO_BIG,
                          f"frames are limited to {self.limits.max_frame_bytes} bytes")
            return Error(id=None, code="frame_too_big", message="The frame is too big.")
        if not self._take_token():
            retry = self._rate_refused()
            return Error(id=_request_id(text), code="rate_limited",
                         message="Too many commands; slow down.", retry_after=retry)
        try:
            return parse(text)
        except ProtocolError as exc:
            self._refused()
            return exc.to_event()


def json_schema() -> dict[str, Any]:
    """JSON Schema of every frame, from the models that validate them."""
    commands = TypeAdapter(Command).json_schema(ref_template="#/$defs/{model}")
    events = TypeAdapter(Annotated[ServerEvent, Field(discriminator="type")]).json_schema(
        ref_template="#/$defs/{model}")
    defs = {**commands.pop("$defs", {}), **events.pop("$defs", {})}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"Nirvana chat protocol v{PROTOCOL_VERSION}",
        "$defs": defs,
        "properties": {"client_command": commands, "server_event": events},
        "close_codes": {c.name.lower(): int(c) for c in CloseCode},
    }
