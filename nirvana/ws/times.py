"""How the chat protocol writes an instant, over WebSocket and the chat HTTP routes alike."""

from __future__ import annotations

from datetime import datetime


def chat_time(t: datetime) -> str:
    """ISO 8601 in UTC with exactly three fraction digits ("2025-01-01T10:00:00.000+00:00"):
    one form for a client to parse, and strings that sort as the instants do. The chat
    store keeps milliseconds; a presence's `last_seen` drops microseconds no client needs."""
    return t.isoformat(timespec="milliseconds")
