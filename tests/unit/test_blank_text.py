"""What counts as blank (a required field refuses it) is the same for ASCII text, which
takes a shorter way (domain/text.py `is_blank`), as for any text."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from nirvana.domain.text import INVISIBLE, is_blank


def by_the_rule(text: str) -> bool:
    return all(ch.isspace() or ch in INVISIBLE or unicodedata.category(ch) in ("Cf", "Cc")
               for ch in text)


@given(st.text(st.characters(max_codepoint=127)) | st.text(" \t\r\n\x0b\x0c\x1c\x00\x7fa."))
def test_ascii_text_is_blank_exactly_when_the_rule_says(text):
    assert is_blank(text) == by_the_rule(text)


def test_blank_and_visible_text():
    assert is_blank("") and is_blank(" \t\n") and is_blank("\u200b \u3164")
    assert not is_blank(" a ") and not is_blank(".") and not is_blank("\u200b x")
