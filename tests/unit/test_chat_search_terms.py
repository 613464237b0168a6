"""A message's search terms are the same whichever way they are computed (ASCII text takes a
shorter way, domain/chat/search.py): stored messages stay findable by the same words."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from nirvana.domain.chat.search import normalise, terms_of


def by_the_rule(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


@given(st.text(st.characters(max_codepoint=127)))
def test_ascii_text_is_normalised_as_any_text(text):
    assert normalise(text) == by_the_rule(text)


@given(st.text(st.characters(blacklist_categories=("Cs",))))
def test_any_text_is_normalised_by_the_rule(text):
    assert normalise(text) == by_the_rule(text)


def test_terms_are_lowercase_words_without_accents():
    assert terms_of("Café au LAIT, café!") == ["cafe", "au", "lait"]
    assert terms_of("Hello, hello WORLD_2") == ["hello", "world_2"]
