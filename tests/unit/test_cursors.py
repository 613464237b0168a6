"""One cursor codec: positions round-trip, and anything not issued is `invalid_cursor`."""

from __future__ import annotations

import pytest

from nirvana.domain import cursors
from nirvana.domain.errors import InvalidInputError


def test_a_position_round_trips_through_an_opaque_url_safe_token():
    token = cursors.encode("2025-01-01T00:00:00+00:00|42")
    assert "=" not in token and "/" not in token and "+" not in token
    assert cursors.decode(token, lambda text: text) == "2025-01-01T00:00:00+00:00|42"


@pytest.mark.parametrize("bad", ["\u00e9t\u00e9", "__4", "a"])  # not ASCII, not UTF-8, padding
def test_a_token_that_is_not_base64url_text_is_invalid_cursor(bad):
    with pytest.raises(InvalidInputError) as caught:
        cursors.decode(bad, lambda text: text)
    assert caught.value.details[0] == {"field": "cursor", "code": "invalid_cursor",
                                       "message": "is not a cursor this API gave out"}


@pytest.mark.parametrize("error", [ValueError, OverflowError])
def test_a_position_the_listing_rejects_is_invalid_cursor(error):
    def parse(text: str) -> str:
        raise error(text)

    with pytest.raises(InvalidInputError):
        cursors.decode(cursors.encode("whatever"), parse)
