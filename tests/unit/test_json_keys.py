"""The duplicate-key check of HTTP bodies: a key named twice in one object is refused at any
depth, the same keys in sibling objects are not, and a body it cannot read is refused rather
than let through unchecked."""

from __future__ import annotations

import pytest

from nirvana.domain.errors import BadRequestError
from nirvana.http.json_keys import refuse_duplicate_keys

LONG = b"1" + b"0" * 5000  # past the standard parser's 4,300-digit limit for int()


@pytest.mark.parametrize("raw,key", [
    (b'{"seq": 0, "seq": 1}', "seq"),
    (b'{"seq": 0, "\\u0073eq": 1}', "seq"),
    (b'{"a": [{"b": 1}, {"b": 2, "c": 3, "b": 4}]}', "b"),
    (b'{"n": ' + LONG + b', "n": 2}', "n"),
    (b'{"n": ' + LONG + b'.5e3, "x": NaN, "n": 2}', "n"),
])
def test_a_key_named_twice_in_one_object_is_named(raw, key):
    with pytest.raises(BadRequestError) as refused:
        refuse_duplicate_keys(raw)
    assert refused.value.code == "malformed_json"
    assert refused.value.details == [{"field": key, "code": "duplicate_key",
                                      "message": "is named twice in one object"}]


@pytest.mark.parametrize("raw", [
    b'{"kind": "file", "attachments": [{"url": "u", "kind": "file", "name": "a"},'
    b' {"url": "v", "kind": "file", "name": "b"}]}',
    b'{"n": ' + LONG + b', "m": -' + LONG + b'}',
    b'[{"a": 1}, {"a": 1}]',
])
def test_the_same_keys_in_different_objects_pass(raw):
    refuse_duplicate_keys(raw)


@pytest.mark.parametrize("raw", [b'{"a": 1', b'{"a": "\xff"}', b'{"a": 1} x'])
def test_a_body_it_cannot_read_is_refused_not_passed(raw):
    with pytest.raises(BadRequestError) as refused:
        refuse_duplicate_keys(raw)
    assert refused.value.code == "malformed_json" and not refused.value.details
