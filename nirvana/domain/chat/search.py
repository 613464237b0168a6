"""Message search without a text index: each message stores its normalised terms.

The embedded MongoDB-wire store has no text indexes, so a message keeps an array of terms
(lowercase, accents stripped, split on anything that is not a letter or digit), and a query
asks for the messages of the user's conversations holding all of the query's terms; the
last query term also matches as a prefix while it is being typed (no trailing space).
"""

from __future__ import annotations

import re
import unicodedata

MAX_TERMS = 500  # per message: bounds the index entries one message can add
MAX_TERM_CHARS = 64
MAX_QUERY_TERMS = 8
MIN_PREFIX_CHARS = 2  # shorter prefixes would scan most of the index
_WORD = re.compile(r"\w+")


def normalise(text: str) -> str:
    if text.isascii():
        # The same result, without a loop over the characters (every stored message's
        # terms are made here): ASCII has no decompositions nor combining marks, and its
        # casefold is its lowercase.
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def terms_of(text: str) -> list[str]:
    """The distinct search terms of a text, in order of first appearance."""
    terms = dict.fromkeys(t[:MAX_TERM_CHARS] for t in _WORD.findall(normalise(text)))
    return list(terms)[:MAX_TERMS]


def parse_query(q: str) -> tuple[list[str], str | None]:
    """(terms every result must hold, prefix of one more term or None)."""
    terms = terms_of(q)[:MAX_QUERY_TERMS]
    if terms and q and not q[-1].isspace() and len(terms[-1]) >= MIN_PREFIX_CHARS:
        return terms[:-1], terms[-1]
    return terms, None
