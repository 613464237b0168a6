"""The accounts' lifetimes and limits (`AccountPolicy`), and how their rate limiters are made."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, Protocol

from ..clock import Clock
from ..ratelimit import Limit, SlidingWindowLimiter


@dataclass(frozen=True)
class AccountPolicy:
    access_ttl: timedelta = timedelta(minutes=15)
    refresh_ttl: timedelta = timedelta(days=7)
    reset_ttl: timedelta = timedelta(minutes=30)
    base_url: str = "http://127.0.0.1:8000"
    # Accounts created from one IP: each costs an argon2 hash and a row.
    sign_up_per_ip: Limit = Limit(20, 3600)
    # Every sign-in attempt from one IP.
    sign_in_per_ip: Limit = Limit(30, 60)
    # Failures for one account from one IP: stops guessing from one place without letting an
    # attacker elsewhere lock the owner out.
    failures_per_ip_account: Limit = Limit(10, 15 * 60)
    # Failures for one account from anywhere: a high ceiling that bounds distributed guessing.
    failures_per_account: Limit = Limit(100, 3600)
    forgot_per_ip: Limit = Limit(10, 3600)
    forgot_per_account: Limit = Limit(3, 3600)
    verify_ttl: timedelta = timedelta(days=2)
    # Verification links mailed on request to one account.
    verify_mails_per_account: Limit = Limit(3, 3600)


class RateLimiter(Protocol):
    """What the accounts ask of a limiter: `SlidingWindowLimiter`'s methods, so one shared
    by several instances can stand in for it (`Accounts(limiter=...)`)."""

    def check(self, key: str) -> None:
        """Raise RateLimitedError if `key` has no budget left; records nothing."""
        ...

    def hit(self, key: str) -> None: ...

    def reset(self, key: str) -> None: ...

    def consume(self, key: str) -> None: ...


# Makes the limiter of one `AccountPolicy` limit.
LimiterFactory = Callable[[Limit], RateLimiter]


def in_process_limiters(clock: Clock) -> LimiterFactory:
    """The default: counters in this process, which one process alone may rely on."""
    return lambda limit: SlidingWindowLimiter(limit, clock)


@dataclass(frozen=True)
class SignInLimiters:
    """The limiters that guard passwords and codes: the sign-in path and the confirmations
    of sensitive changes count failures against the same account."""

    per_ip: RateLimiter
    failures_per_ip_account: RateLimiter
    failures_per_account: RateLimiter

    @classmethod
    def of(cls, policy: AccountPolicy, limiter: LimiterFactory) -> SignInLimiters:
        return cls(limiter(policy.sign_in_per_ip), limiter(policy.failures_per_ip_account),
                   limiter(policy.failures_per_account))
