"""Pages of the conversation list (domain/chat/listing.py): newest activity first, ties by
id, each page strictly after the cursor; the cursor round-trips and refuses the rest."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from nirvana.domain import cursors
from nirvana.domain.chat.listing import decode_cursor, encode_cursor, select
from nirvana.domain.errors import InvalidInputError

T0 = datetime(2026, 12, 7, 18, 0, tzinfo=timezone.utc)


def pages(positions, limit):
    seen, after = [], None
    while True:
        ids, after = select(positions, after, limit)
        seen.append(ids)
        if after is None:
            return seen


def test_pages_list_every_conversation_once_newest_first_ties_by_id():
    # Three share an instant: the id breaks the tie, descending.
    positions = {f"c{n:02}": T0 + timedelta(milliseconds=n // 3) for n in range(10)}
    listed = pages(positions, 4)
    assert [len(p) for p in listed] == [4, 4, 2]
    flat = [cid for p in listed for cid in p]
    assert flat == sorted(positions, key=lambda c: (positions[c], c), reverse=True)


def test_a_page_that_holds_the_rest_says_none_follow():
    assert select({"a": T0, "b": T0}, None, 2) == (["b", "a"], None)
    assert select({}, None, 2) == ([], None)


def test_a_conversation_active_after_the_cursor_is_not_listed_again():
    positions = {f"c{n}": T0 + timedelta(seconds=n) for n in range(6)}
    first, after = select(positions, None, 3)
    assert first == ["c5", "c4", "c3"]
    positions["c4"] = positions["c1"] = T0 + timedelta(minutes=1)  # one listed, one not
    rest, following = select(positions, after, 3)
    assert rest == ["c2", "c0"] and following is None


def test_the_cursor_round_trips_to_the_microsecond():
    position = (T0 + timedelta(microseconds=123457), "0f" * 16)
    assert decode_cursor(encode_cursor(position)) == position


@pytest.mark.parametrize("text", ["n:1:2", "c:x:abc", "c:1:", "c:1", "c:1:" + "a" * 65,
                                  f"c:{10 ** 20}:abc"])
def test_a_position_not_issued_is_invalid_cursor(text):
    with pytest.raises(InvalidInputError) as caught:
        decode_cursor(cursors.encode(text))
    assert caught.value.details[0]["code"] == "invalid_cursor"
