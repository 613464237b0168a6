"""The origin check's warning: once per refused origin, naming what it expected, bounded."""

from __future__ import annotations

import logging

from nirvana.http.auth import RefusedOrigins

ALLOWED = ("http://127.0.0.1:8048", "http://localhost:8048")


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "nirvana.http" and r.levelno == logging.WARNING]


def test_a_refused_origin_is_told_once_with_the_allowed_ones_and_public_url(caplog):
    refused = RefusedOrigins(ALLOWED, None)
    for _ in range(3):
        refused.tell("https://nirvana.example:8443")
    (line,) = warnings(caplog)
    assert "'https://nirvana.example:8443'" in line
    assert "allowed: http://127.0.0.1:8048, http://localhost:8048" in line
    assert "PUBLIC_URL unset" in line
    refused.tell(None)
    assert "from no Origin or Referer" in warnings(caplog)[1]


def test_the_warnings_are_bounded_whatever_origins_are_sent(caplog):
    refused = RefusedOrigins(ALLOWED, "https://nirvana.example", limit=3)
    for n in range(10):
        refused.tell(f"https://site{n}.example")
    lines = warnings(caplog)
    assert [n for n in range(10) if any(f"site{n}." in line for line in lines)] == [0, 1, 2]
    assert len(lines) == 4 and "more refused origins, not logged" in lines[3]
    assert "PUBLIC_URL https://nirvana.example" in lines[0]


def test_a_sent_origin_cannot_forge_log_lines(caplog):
    RefusedOrigins(ALLOWED, None).tell("https://a.example\nFAKE log line " + "x" * 1000)
    (line,) = warnings(caplog)
    assert "\n" not in line and "\\nFAKE" in line and "x" * 201 not in line
