"""The original name of an upload is kept as something safe to show: its last path segment,
NFC, without controls or bidi controls, at most 200 characters with its extension kept."""

from __future__ import annotations

import pytest

from nirvana.domain.upload_names import (
    MAX_ORIGINAL_NAME,
    clean_display_name,
    clean_original_name,
)


@pytest.mark.parametrize("sent, kept", [
    ("notes.txt", "notes.txt"),
    ("../../x", "x"),
    ("C:\\Users\\ann\\report.pdf", "report.pdf"),
    ("dir/..", None),
    ("<img src=x onerror=alert(1)>.txt", "<img src=x onerror=alert(1)>.txt"),  # escaped on show
    ("invoice\u202egnp.exe", "invoicegnp.exe"),  # would show as "invoiceexe.png"
    ("a\u2066b\u2069\u200f.txt", "ab.txt"),
    ("a\x00b\x1bc\x7f\x9f.txt", "abc.txt"),
    # Line breaks and tabs part words.
    ("r\u00e9sum\u00e9\tfinal.pdf", "r\u00e9sum\u00e9 final.pdf"),
    ("a\r\nb\x85c\u2028d.txt", "a b c d.txt"),
    ("e\u0301te\u0301.txt", "\u00e9t\u00e9.txt"),  # NFC
    ("  two   spaces\u00a0.txt ", "two spaces .txt"),
    ("", None), (None, None), ("   ", None), ("\u200b\u2060", None), ("\u202e", None),
])
def test_a_sent_name_is_kept_cleaned(sent, kept):
    assert clean_original_name(sent) == kept


def test_a_long_name_is_cut_before_its_extension():
    kept = clean_original_name("a" * 300 + ".pdf")
    assert kept == "a" * (MAX_ORIGINAL_NAME - 4) + ".pdf"
    assert clean_original_name("b" * 300) == "b" * MAX_ORIGINAL_NAME
    # Not an extension: a "." far from the end, or nothing before it.
    assert clean_original_name("c" * 150 + "." + "d" * 150) == ("c" * 150 + "." + "d" * 150)[:200]
    assert clean_original_name("." + "e" * 300) == ("." + "e" * 300)[:200]


@pytest.mark.parametrize("sent, shown", [
    ("invoice\u202egnp.exe", "invoicegnp.exe"),
    ("  e\u0301t\u00e9\u2066  photos ", "\u00e9t\u00e9 photos"),
    ("../../x", "../../x"),  # a chat name is only shown: no path to take apart
    ("\u200f\u202e", None), ("", None),
])
def test_a_display_name_is_cleaned_of_what_would_change_how_it_shows(sent, shown):
    assert clean_display_name(sent) == shown
