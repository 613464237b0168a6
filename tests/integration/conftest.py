"""Fixtures the integration tests share (defined in tests/support/)."""

from tests.support.chat_reads import counted
from tests.support.chat_store import flaky
from tests.support.chat_writers import chats, writers

__all__ = ["chats", "counted", "flaky", "writers"]
