"""What a `Range` header asks of a file, judged before Starlette's FileResponse serves it.

FileResponse answers a Range it cannot serve itself, in text/plain (400) or with an empty
body (416); judging the header first lets those answers have the one JSON error shape. The
rules here are at least as strict as FileResponse's (RFC 9110 byte ranges, every range
satisfiable), so a header passed on is one it serves.
"""

from __future__ import annotations

import re
from enum import Enum

MAX_RANGES = 100  # FileResponse.max_ranges: past it, it ignores the header and sends it all
_RANGE = re.compile(r"\s*(\d*)\s*-\s*(\d*)\s*")


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
