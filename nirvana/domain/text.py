"""The rules every text field shares: which characters it may hold, and what counts as blank.

Control characters (Unicode category Cc: C0, DEL, C1) are refused in every field; fields
that hold multiline prose (blog bodies and summaries, comments, chat messages, "about",
group descriptions) may hold tab, newline and carriage return. PostgreSQL text cannot hold
NUL at all, so without this rule a NUL reached the driver and came back as a 422 that named
no field.

"Blank" is judged by what a reader sees: a text made only of whitespace (as `str.isspace`)
and invisible characters (format characters such as U+200B ZERO WIDTH SPACE, U+2060 WORD
JOINER, U+FEFF, and the Hangul and Braille fillers) is blank, and a required field refuses it.
"""

from __future__ import annotations

import re
import unicodedata

from .errors import field_error

# Letters and symbols that render as nothing, though Unicode does not class them as format
# characters or spaces.
INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f")


# The two character classes, written once in the syntax Python's `re` and ECMA 262 (a JSON
# Schema `pattern`) share, so the OpenAPI document states exactly this rule.
CONTROLS = "\\u0000-\\u001F\\u007F-\\u009F"
CONTROLS_BUT_LINES = "\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F"
# What a single-line field, and a multiline one, may hold, as JSON Schema patterns.
SINGLE_LINE_PATTERN = f"^[^{CONTROLS}]*$"
MULTILINE_PATTERN = f"^[^{CONTROLS_BUT_LINES}]*$"

# A regular expression, not a loop over the characters: every string of every frame and
# body passes here, and a Python loop cost a chat send more than its JSON parsing.
_CONTROLS = re.compile(f"[{CONTROLS}]")
_CONTROLS_BUT_LINES = re.compile(f"[{CONTROLS_BUT_LINES}]")


def first_control(text: str, *, multiline: bool = False) -> int | None:
    """The index of the first control character `text` may not hold, or None."""
    found = (_CONTROLS_BUT_LINES if multiline else _CONTROLS).search(text)
    return None if found is None else found.start()


def control_message(text: str, index: int) -> str:
    return f"must not contain control characters (U+{ord(text[index]):04X} at {index})"


# The ASCII characters that show nothing: whitespace and controls (ASCII has no format
# characters nor INVISIBLE ones).
_ASCII_BLANK = "".join(ch for ch in map(chr, range(128))
                       if ch.isspace() or unicodedata.category(ch) == "Cc")


def is_blank(text: str) -> bool:
    """True when the text shows nothing: only whitespace and invisible characters."""
    if text.isascii():
        # The same answer without a generator: every send's text passes here.
        return not text.strip(_ASCII_BLANK)
    return all(ch.isspace() or ch in INVISIBLE or unicodedata.category(ch) in ("Cf", "Cc")
               for ch in text)


def check_text(raw: str, field: str, max_len: int | None = None, *, multiline: bool = False,
               required: bool = False) -> str:
    """`raw` unchanged, or InvalidInputError naming `field`: control characters (tab and
    line breaks allowed when `multiline`), lone surrogates, more than `max_len` characters,
    or, when `required`, nothing visible."""
    bad = first_control(raw, multiline=multiline)
    if bad is not None:
        raise field_error(field, control_message(raw, bad), "invalid_character")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise field_error(field, "must be valid Unicode", "invalid_character") from None
    if max_len is not None and len(raw) > max_len:
        raise field_error(field, f"must be at most {max_len} characters", "too_long")
    if required and is_blank(raw):
        raise field_error(field, "must not be empty or blank", "required")
    return raw


def check_key(raw: str, field: str, max_len: int) -> str:
    """An opaque client key (an idempotency `client_id`): 1 to `max_len` characters, none a
    control character."""
    if not 1 <= len(raw) <= max_len:
        raise field_error(field, f"must be 1 to {max_len} characters")
    return check_text(raw, field)

