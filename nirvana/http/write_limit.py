"""The per-user write rate: every state-changing request of a signed-in user (any method but
GET, HEAD and OPTIONS, on the API and on the web client's forms) counts against one budget,
WRITES_PER_MINUTE. Past it the answer is 429 with `Retry-After` and the IETF rate-limit
headers (draft-ietf-httpapi-ratelimit-headers: `RateLimit-Policy` and `RateLimit`, structured
fields naming the policy "writes"), which every counted response carries too.
"""

from __future__ import annotations

import math

from ..domain.errors import RateLimitedError
from ..domain.ratelimit import SlidingWindowLimiter
from .methods import SAFE_METHODS

POLICY = "writes"


def counts_as_write(method: str, auth: bool) -> bool:
    """Whether a route's requests count against the write rate, from its method and whether
    it needs a signed-in user: those that change state and do (sign-in, sign-up and refresh
    have limits of their own)."""
    return auth and method not in SAFE_METHODS


class WriteRateLimitedError(RateLimitedError):
    def __init__(self, retry_after: float, headers: dict[str, str]) -> None:
        super().__init__(retry_after, "Too many changes in a short time; wait a moment and "
                                      "try again.")
        self.headers = headers


def policy_header(limiter: SlidingWindowLimiter) -> str:
    limit = limiter.limit
    return f'"{POLICY}";q={limit.count};w={int(limit.per_seconds)}'


def take_write(limiter: SlidingWindowLimiter, user_id: int) -> dict[str, str]:
    """Count one write of `user_id`; the rate-limit headers for its response. Raises
    WriteRateLimitedError (nothing counted) when the budget is spent."""
    key = f"user:{user_id}"
    try:
        limiter.check(key)
    except RateLimitedError as exc:
        _, reset = limiter.remaining(key)
        raise WriteRateLimitedError(exc.retry_after, {
            "RateLimit-Policy": policy_header(limiter),
            "RateLimit": f'"{POLICY}";r=0;t={max(1, math.ceil(reset))}',
        }) from None
    limiter.hit(key)
    left, reset = limiter.remaining(key)
    return {"RateLimit-Policy": policy_header(limiter),
            "RateLimit": f'"{POLICY}";r={left};t={max(1, math.ceil(reset))}'}
