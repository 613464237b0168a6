"""The close codes of the chat WebSocket (docs/protocol.md lists what a client does on each)."""

from __future__ import annotations

import enum


class CloseCode(enum.IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001  # the server is stopping: reconnect (with backoff) and resume
    POLICY_VIOLATION = 1008  # sustained command flood or repeated protocol abuse
    MESSAGE_TOO_BIG = 1009  # a frame above Limits.max_frame_bytes
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013  # a store is down, or no chat writer answers
    UNAUTHENTICATED = 4001  # no/invalid token, token expired, session revoked
    FORBIDDEN_ORIGIN = 4003  # cookie auth from an Origin that is not allowed
    SLOW_CONSUMER = 4008  # the client did not read fast enough: reconnect and resume
    TOO_MANY_CONNECTIONS = 4029  # the per-user cap of open sockets is reached


# The 1013 reason of a new socket refused because this instance cannot reach the chat writer
# (a Redis outage): fixed, as docs/protocol.md promises clients may rely on it; another
# instance, the writer's, may take the next socket, so it is retried at the normal pace.
WRITER_UNREACHABLE_REASON = "The chat writer cannot be reached; reconnect later"
