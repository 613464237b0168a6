"""What a `Range` header asks of a file, judged before Starlette's FileResponse serves it.

FileResponse answers a Range it cannot serve itself, in text/plain (400) or with an empty
body (416); judging the header first lets those answers have the one JSON error shape. The
rules here are at least as strict as FileResponse's (RFC 9110 byte ranges, every range
satisfiable), so a header passed on is one it serves.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Mapping

MAX_RANGES = 100  # FileResponse.max_ranges: past it, it ignores the header and sends it all
# ASCII digits only, at most 19 (any file's size fits): a longer number is refused as
# malformed rather than parsed, as int() of thousands of digits raises instead.
_RANGE = re.compile(r"\s*([0-9]{0,19})\s*-\s*([0-9]{0,19})\s*")


def range_applies(if_range: str | None, headers: Mapping[str, str]) -> bool:
    """Whether a Range is honoured: with an If-Range naming another version of the file,
    the whole file is sent instead (RFC 9110 13.1.5), so there is nothing to refuse.
    `headers` are the file response's own (its strong ETag and Last-Modified)."""
    if if_range is None:
        return True
    if if_range.startswith("W/"):
        return False
    return if_range in (headers.get("etag"), headers.get("last-modified"))


class RangeRefusal(Enum):
    MALFORMED = "malformed"
    UNSATISFIABLE = "unsatisfiable"


def judge_range(header: str, size: int) -> RangeRefusal | None:
    """Why a file of `size` bytes cannot be served for this Range header, or None."""
    unit, equals, ranges = header.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return RangeRefusal.MALFORMED
    specs = ranges.split(",")
    if len(specs) > MAX_RANGES:
        return None
    specs = [s for s in specs if s.strip()]  # empty list elements are allowed (RFC 9110 5.6.1)
    if not specs:
        return RangeRefusal.MALFORMED
    refusal = None
    for spec in specs:
        match = _RANGE.fullmatch(spec)
        if match is None or not (match[1] or match[2]):
            return RangeRefusal.MALFORMED
        first, last = match[1], match[2]
        if first and last and int(first) > int(last):
            return RangeRefusal.MALFORMED
        if (int(first) >= size) if first else (int(last) == 0 or size == 0):
            refusal = RangeRefusal.UNSATISFIABLE
    return refusal
