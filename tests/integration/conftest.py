"""Fixtures the integration tests share (defined in tests/support/)."""

from tests.support.chat_store import flaky

__all__ = ["flaky"]
