"""Adapters for the crypto ports: argon2id password hashing and HS256 access tokens."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import threading
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Callable, TypeVar

import argon2
import jwt
import pyotp

from .domain.errors import AuthenticationError
from .domain.accounts.ports import AccessClaims
from .domain.clock import Clock

T = TypeVar("T")


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class Argon2Hasher:
    """argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).

    Hashing runs in its own worker threads so sign-ins never stall the event loop; their
    number bounds memory (19 MiB each) under a sign-in flood.

    argon2-cffi releases the GIL while hashing, so on a busy core the kernel decides who
    runs, and hashing threads at normal priority delayed the event loop during sign-ins. So:
    at most one thread per core *beside* the event loop's (more only adds GIL hand-offs and
    cache thrash, not throughput), at the lowest priority (nice 19, set per thread: Linux
    applies setpriority to a thread id), so a waking event loop preempts a hash at once. The
    trade-off: with other work on the machine, sign-ins slow down first. A process pool did
    no better at more cost in memory and start-up, so threads stay. The measurements:
    docs/performance.md; `python -m bench.signin_lag` repeats them.
    """

    def __init__(
        self,
        time_cost: int = 2,
        memory_cost: int = 19 * 1024,
        parallelism: int = 1,
        concurrency: int | None = None,
        niceness: int = 19,
    ) -> None:
        if concurrency is None:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2
            concurrency = max(1, min(4, cores - 1))
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        self._niceness = niceness
        self._pool = ThreadPoolExecutor(
            max_workers=concurrency, thread_name_prefix="argon2", initializer=self._lower
        )

    def _lower(self) -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self._niceness)
        except (OSError, AttributeError):  # not Linux, or not allowed: run at normal priority
            pass

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(password_hash, password)
            except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
                return False

        return await self._run(check)

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except argon2.exceptions.InvalidHashError:
            return True


class JwtAccessTokens:
    """HS256 JWTs with the algorithm pinned and iss/aud/exp/iat required.

    PyJWT's decode (base64, JSON, HMAC, claim checks) was ~30 % of the CPU of GET /user/me.
    A client sends the same token for its whole 15 minutes, so the claims of the last
    `cache_size` tokens that passed the full check are kept, keyed by the exact token text:
    the signature of identical bytes cannot change. What can change — the clock — is judged
    again on every call; revocation is checked by the caller (`Accounts.authenticate`) on
    every call too. A token that failed is never cached, so a bad one costs a full check.
    """

    ALGORITHM = "HS256"

    def __init__(
        self,
        secret: str,
        clock: Clock,
        ttl: timedelta = timedelta(minutes=15),
        issuer: str = "nirvana",
        audience: str = "nirvana",
        cache_size: int = 10_000,
    ) -> None:
        self._verified: OrderedDict[str, AccessClaims] = OrderedDict()
        self._cache_size = cache_size
        self._secret = secret
        self._clock = clock
        self._ttl = ttl
        self._issuer = issuer
        self._audience = audience

    def issue(self, user_id: int, session_id: str) -> tuple[str, datetime]:
        now = self._clock.now()
        expires = now + self._ttl
        claims = {
            "sub": str(user_id),
            "sid": session_id,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "iss": self._issuer,
            "aud": self._audience,
            "jti": uuid.uuid4().hex,
            "typ": "access",
        }
        return jwt.encode(claims, self._secret, algorithm=self.ALGORITHM), expires

    def verify(self, token: str) -> AccessClaims:
        cached = self._verified.get(token)
        if cached is None:
            cached = self._decode(token)
            self._verified[token] = cached
            if len(self._verified) > self._cache_size:
                self._verified.popitem(last=False)
        else:
            self._verified.move_to_end(token)
        self._check_time(cached)
        return cached

    def _check_time(self, claims: AccessClaims) -> None:
        now = int(self._clock.now().timestamp())
        if claims.expires_at <= now:
            raise AuthenticationError("The access token has expired.", code="token_expired")
        if claims.issued_at > now + 60:
            raise AuthenticationError("The access token is not valid.", code="invalid_token")

    def _decode(self, token: str) -> AccessClaims:
        """The claims of a correctly signed access token, its times not yet judged."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[self.ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require": ["sub", "sid", "iat", "exp", "iss", "aud", "jti"],
                    # Time is judged by _check_time with the injected clock, so tests can move it.
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
            if claims.get("typ") != "access":
                raise jwt.InvalidTokenError("not an access token")
            return AccessClaims(
                user_id=int(claims["sub"]),
                session_id=str(claims["sid"]),
                issued_at=int(claims["iat"]),
                expires_at=int(claims["exp"]),
                token_id=str(claims["jti"]),
            )
        except (jwt.InvalidTokenError, ValueError, TypeError):
            raise AuthenticationError("The access token is not valid.", code="invalid_token")


class HmacSigner:
    """The Signer port: HMAC-SHA256 under a key derived from the server's secret, so a MAC
    made for one purpose can never pass as a JWT signature or the reverse."""

    def __init__(self, secret: str, purpose: str = "links") -> None:
        self._key = hmac.new(secret.encode(), f"nirvana {purpose}".encode(),
                             hashlib.sha256).digest()

    def sign(self, message: str) -> str:
        mac = hmac.new(self._key, message.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def matches(self, message: str, mac: str) -> bool:
        return hmac.compare_digest(self.sign(message), mac)


class PyotpTotp:
    """TOTP codes (RFC 6238: SHA-1, 6 digits, 30-second steps, what every authenticator
    app reads from an otpauth:// URI) with pyotp."""

    def new_secret(self) -> str:
        return pyotp.random_base32()

    def uri(self, secret: str, account: str, issuer: str) -> str:
        return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)

    def step_of(self, secret: str, code: str, at: datetime, window: int) -> int | None:
        totp = pyotp.TOTP(secret)
        step = totp.timecode(at)
        found = None
        for offset in range(-window, window + 1):
            # Every candidate is compared, so the time taken says nothing of which matched.
            if hmac.compare_digest(totp.generate_otp(step + offset), code):
                found = step + offset
        return found
