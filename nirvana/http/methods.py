"""The HTTP methods that change no state (RFC 9110's safe methods): the cookie's Origin check,
the write rate and the API description all leave them out."""

from __future__ import annotations

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
