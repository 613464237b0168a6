"""For tests that write more than a person would: a module declares

    settings_with_many_writes = many_writes()

and its `settings` (so its services and client) allow that many writes a minute per user
(WRITES_PER_MINUTE), instead of the limit being off for every test."""

from __future__ import annotations

from dataclasses import replace

import pytest


def many_writes(per_minute: int = 100_000):
    @pytest.fixture(name="settings")
    def settings_with_many_writes(settings):
        return replace(settings, writes_per_minute=per_minute)

    return settings_with_many_writes
