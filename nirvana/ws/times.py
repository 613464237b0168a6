"""How the chat protocol writes an instant, over WebSocket and the chat HTTP routes alike."""

from __future__ import annotations

from datetime import datetime, timezone

# What `chat_time` writes, as the served schemas state it (frames.py `ChatTime`).
CHAT_TIME_PATTERN = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$"


def chat_time(t: datetime) -> str:
    """ISO 8601 in UTC with exactly three fraction digits ("2025-01-01T10:00:00.000+00:00"):
    one form for a client to parse, and strings that sort as the instants do. The chat
    store keeps milliseconds; a presence's `last_seen` drops microseconds no client needs.
    Another zone is converted; a naive time is refused, since its instant is unknown."""
    if t.tzinfo is None:
        raise ValueError(f"a chat time needs a zone: {t!r}")
    return t.astimezone(timezone.utc).isoformat(timespec="milliseconds")
