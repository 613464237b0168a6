"""The name an upload had on its owner's device, as their client sent it (a multipart part's
`filename`), cleaned to be shown: never used as a path, a URL or a storage name, which stay
random (uploads.py). The rules are those of docs/media.md, "Original names"."""

from __future__ import annotations

import re
import unicodedata

from .text import is_blank

MAX_ORIGINAL_NAME = 200
# An extension kept whole when a long name is shortened: `.tar.gz` is two, and the last
# one is what tells the type.
_MAX_EXTENSION = 16

# Characters that change how the rest of a line is shown, not letters: the bidirectional
# marks, embeddings, overrides and isolates. "invoice\u202egnp.exe" would show as
# "invoiceexe.png".
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# Controls (Cc), bidi controls, the line and paragraph separators, and lone surrogates
# (a percent-decoded filename* may hold them; PostgreSQL text cannot).
_DROPPED = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}\u2028\u2029\ud800-\udfff]")


def clean_original_name(raw: str | None) -> str | None:
    """The name to keep for an upload, or None when nothing showable is left.

    Only the last path segment (after `/` or `\\`); Unicode NFC; controls and bidi controls
    dropped; runs of whitespace made one space and trimmed; `.` and `..` are no name; at most
    MAX_ORIGINAL_NAME characters, shortened before the extension so the type still shows.
    """
    if not raw:
        return None
    name = re.split(r"[/\\]", raw)[-1]
    name = unicodedata.normalize("NFC", _DROPPED.sub("", name))
    name = " ".join(name.split())
    if name in ("", ".", "..") or is_blank(name):
        return None
    if len(name) > MAX_ORIGINAL_NAME:
        stem, dot, extension = name.rpartition(".")
        if not dot or not stem or len(extension) >= _MAX_EXTENSION:
            stem, extension = name, ""
        else:
            extension = "." + extension
        name = stem[:MAX_ORIGINAL_NAME - len(extension)].rstrip() + extension
    return name
