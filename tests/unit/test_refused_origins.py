"""The origin check's warning: once per refused origin, naming what it expected, bounded per
hour."""

from __future__ import annotations

import logging

from nirvana.http.auth import REFUSED_ORIGINS_PERIOD, RefusedOrigins
from tests.support.clock import FakeClock

ALLOWED = ("http://127.0.0.1:8048", "http://localhost:8048")


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "nirvana.http" and r.levelno == logging.WARNING]


def test_a_refused_origin_is_told_once_with_the_allowed_ones_and_public_url(caplog):
    refused = RefusedOrigins(ALLOWED, None, FakeClock())
    for _ in range(3):
        refused.tell("https://nirvana.example:8443")
    (line,) = warnings(caplog)
    assert "'https://nirvana.example:8443'" in line
    assert "allowed: http://127.0.0.1:8048, http://localhost:8048" in line
    assert "PUBLIC_URL unset" in line
    refused.tell(None)
    assert "from no Origin or usable Referer" in warnings(caplog)[1]


def test_the_warnings_are_bounded_whatever_origins_are_sent(caplog):
    refused = RefusedOrigins(ALLOWED, "https://nirvana.example", FakeClock(), limit=3)
    for n in range(10):
        refused.tell(f"https://site{n}.example")
    lines = warnings(caplog)
    assert [n for n in range(10) if any(f"site{n}." in line for line in lines)] == [0, 1, 2]
    assert len(lines) == 4 and "more refused origins, not logged" in lines[3]
    assert "PUBLIC_URL https://nirvana.example" in lines[0]


def test_the_bound_is_per_hour_so_junk_cannot_hide_a_later_misconfiguration(caplog):
    clock = FakeClock()
    refused = RefusedOrigins(ALLOWED, None, clock, limit=2)
    for n in range(5):
        refused.tell(f"https://junk{n}.example")
    clock.advance(REFUSED_ORIGINS_PERIOD.total_seconds() - 1)
    refused.tell("https://nirvana.example")
    assert not any("nirvana.example" in line for line in warnings(caplog))
    clock.advance(1)
    refused.tell("https://nirvana.example")
    refused.tell("https://junk0.example")  # told again in the new hour
    lines = warnings(caplog)
    assert "'https://nirvana.example'" in lines[-2] and "'https://junk0.example'" in lines[-1]
    assert len(lines) == 5


def test_a_sent_origin_cannot_forge_log_lines(caplog):
    RefusedOrigins(ALLOWED, None, FakeClock()).tell("https://a.example\nFAKE log line " + "x" * 1000)
    (line,) = warnings(caplog)
    assert "\n" not in line and "\\nFAKE" in line and "x" * 201 not in line
