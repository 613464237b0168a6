"""The one check of a link a user gives us (an avatar, a blog image, a chat attachment).

A link is an http(s) URL with a host, or a path on this site under `/media/` (where the
upload route puts files) shaped like the names it hands out: one segment, no `..`, no
percent-escapes. Chat goes further and accepts only paths the upload route issued
(chat/messaging.py). Protocol-relative `//host/...` is not a path on this site and is
refused, as are whitespace and control characters, which no served URL contains.
"""

from __future__ import annotations

import re

from .errors import field_error

MAX_URL = 2048
MEDIA = "/media/"
_MEDIA_NAME = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9]+")


def validate_url(raw: str, field: str, *, local: str = MEDIA, max_len: int = MAX_URL) -> str:
    if len(raw) > max_len:
        raise field_error(field, f"must be at most {max_len} characters", "too_long")
    scheme, sep, rest = raw.partition("://")
    web = bool(sep) and scheme in ("http", "https") and rest[:1] not in ("", "/")
    here = raw.startswith(local) and not raw.startswith("//")
    if here and local == MEDIA and not _MEDIA_NAME.fullmatch(raw[len(MEDIA):]):
        here = False
    if not (web or here):
        where = "a /media/ path from the upload route" if local == MEDIA else "a path"
        raise field_error(field, f"must be an http(s) URL or {where}", "invalid_url")
    if any(c.isspace() or not c.isprintable() for c in raw):
        raise field_error(field, "must not contain spaces or control characters", "invalid_url")
    return raw
