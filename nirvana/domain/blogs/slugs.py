"""Readable slugs from blog titles: `Crème brûlée à Zürich` → `creme-brulee-a-zurich`.

Latin and Greek letters lose their accents (as PostgreSQL's `unaccent` folds them, so a
search and a URL agree); other scripts are kept as they are (`привет-мир`, `東京の夏`),
which browsers show readably and percent-encode on the wire. No transliteration library:
the ones worth having (Unidecode) are GPL, and a guessed Latin spelling of Japanese or
Russian is less readable to its readers than the original.

Uniqueness is the store's job: `base` for the first blog of a title, then `base-2`,
`base-3`, ... from a per-title counter, stepping over any slug a blog holds.
"""

from __future__ import annotations

import re
import unicodedata

MAX_SLUG = 80
FALLBACK = "post"
# Letters that do not decompose into a base letter and an accent.
_SPECIAL = str.maketrans({
    "ß": "ss", "ẞ": "ss", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ø": "o", "Ø": "o",
    "đ": "d", "Đ": "d", "ł": "l", "Ł": "l", "þ": "th", "Þ": "th", "ð": "d", "Ð": "d",
    "ı": "i", "ħ": "h", "Ħ": "h",
})
_WORD = re.compile(r"[^\W_]+")
_DIGITS = re.compile(r"[0-9]+")


def _fold(char: str) -> str:
    decomposed = unicodedata.normalize("NFKD", char)
    base = decomposed[:1]
    # Only Latin (up to Latin Extended-B) and Greek drop their marks: in other scripts a
    # combining mark is part of the letter (Japanese dakuten, Devanagari vowel signs).
    if base and (ord(base) < 0x250 or 0x370 <= ord(base) < 0x400):
        return "".join(c for c in decomposed if not unicodedata.combining(c))
    return char


def slugify(title: str) -> str:
    """The slug a title asks for (before uniqueness): lower-case words joined by hyphens, at
    most MAX_SLUG characters, cut at a word boundary. Never empty and never all digits, so a
    slug is never mistaken for a blog id in a URL."""
    text = "".join(_fold(c) for c in unicodedata.normalize("NFC", title.translate(_SPECIAL)))
    words = _WORD.findall(unicodedata.normalize("NFC", text).lower())
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > MAX_SLUG:
            if not slug:
                slug = word[:MAX_SLUG]
            break
        slug = candidate
    if not slug:
        return FALLBACK
    if _DIGITS.fullmatch(slug):
        return f"{FALLBACK}-{slug}"
    return slug


def is_slug(text: str) -> bool:
    """Whether the text could be a slug we issued (cheap refusal of anything else)."""
    return 0 < len(text) <= MAX_SLUG + 12 and all(_WORD.fullmatch(w) for w in text.split("-"))
