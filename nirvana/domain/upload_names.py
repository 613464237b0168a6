"""Names of files as people gave them, cleaned to be shown: the name an upload had on its
owner's device (a multipart part's `filename`), and the name a chat attachment is sent
with. Never used as a path, a URL or a storage name, which stay random (uploads.py). The
rules are those of docs/media.md, "Original names"."""

from __future__ import annotations

import re
import unicodedata

from .text import CONTROLS, is_blank

MAX_ORIGINAL_NAME = 200
# A chat attachment's name, after cleaning: the protocol's bound (AttachmentIn), and what a
# download link's `?name=` accepts (MediaQuery), so a delivered name always downloads.
MAX_ATTACHMENT_NAME = 255
# An extension kept whole when a long name is shortened: `.tar.gz` is two, and the last
# one is what tells the type.
_MAX_EXTENSION = 16

# Line breaks and tabs separate words: they become spaces, not nothing
# ("résumé\tfinal.pdf" is "résumé final.pdf").
_SPACES = re.compile("[\t\n\x0b\x0c\r\x85\u2028\u2029]")
# Characters that change how the rest of a line is shown, not letters: the bidirectional
# marks, embeddings, overrides and isolates. "invoice\u202egnp.exe" would show as
# "invoiceexe.png".
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# The other controls (Cc, text.py's one class of them) and the bidi controls.
_DROPPED = re.compile(f"[{CONTROLS}{_BIDI}]")


def clean_display_name(raw: str | None) -> str | None:
    """A file's name as others will see it, or None when nothing showable is left: Unicode
    NFC, line breaks and tabs made spaces, other controls and bidi controls dropped, runs of
    whitespace made one space and trimmed. No length bound: the caller has its own."""
    if not raw:
        return None
    name = _DROPPED.sub("", _SPACES.sub(" ", raw))
    name = " ".join(unicodedata.normalize("NFC", name).split())
    return None if not name or is_blank(name) else name


def clean_original_name(raw: str | None) -> str | None:
    """The name to keep for an upload, or None when nothing showable is left.

    Only the last path segment (after `/` or `\\`), cleaned as clean_display_name; `.` and
    `..` are no name; at most MAX_ORIGINAL_NAME characters, shortened as `shortened`.
    """
    if not raw:
        return None
    name = clean_display_name(re.split(r"[/\\]", raw)[-1])
    if name is None or name in (".", ".."):
        return None
    return shortened(name, MAX_ORIGINAL_NAME)


def clean_attachment_name(raw: str | None) -> str | None:
    """A chat attachment's name as delivered: cleaned as clean_display_name, then at most
    MAX_ATTACHMENT_NAME characters. Cut, not refused: NFC can grow a name the protocol
    accepted (U+FB2C is three code points), which its sender could not have foreseen."""
    name = clean_display_name(raw)
    return None if name is None else shortened(name, MAX_ATTACHMENT_NAME)


def shortened(name: str, bound: int) -> str:
    """At most `bound` characters, cut before the extension so the type still shows."""
    if len(name) <= bound:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) >= _MAX_EXTENSION:
        stem, extension = name, ""
    else:
        extension = "." + extension
    return stem[:bound - len(extension)].rstrip() + extension
