"""Adapters for the crypto ports: argon2id password hashing and HS256 access tokens."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import anyio
import argon2
import jwt

from .domain.errors import AuthenticationError
from .domain.ports import AccessClaims, Clock


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class Argon2Hasher:
    """argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).

    Hashing runs in worker threads so sign-ins never stall the event loop; a limiter caps how
    many run at once, which bounds memory (19 MiB each) under a sign-in flood.
    """

    def __init__(
        self,
        time_cost: int = 2,
        memory_cost: int = 19 * 1024,
        parallelism: int = 1,
        concurrency: int = 4,
    ) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        self._limiter = anyio.CapacityLimiter(concurrency)

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._hasher.hash, password, limiter=self._limiter)

    async def verify(self, password_hash: str, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(password_hash, password)
            except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
                return False

        return await anyio.to_thread.run_sync(check, limiter=self._limiter)

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except argon2.exceptions.InvalidHashError:
            return True


class JwtAccessTokens:
    """HS256 JWTs with the algorithm pinned and iss/aud/exp/iat required."""

    ALGORITHM = "HS256"

    def __init__(
        self,
        secret: str,
        clock: Clock,
        ttl: timedelta = timedelta(minutes=15),
        issuer: str = "nirvana",
        audience: str = "nirvana",
    ) -> None:
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
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[self.ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require": ["sub", "sid", "iat", "exp", "iss", "aud", "jti"],
                    # Time is judged below by the injected clock, so tests can move it.
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
            if claims.get("typ") != "access":
                raise jwt.InvalidTokenError("not an access token")
            now = int(self._clock.now().timestamp())
            if int(claims["exp"]) <= now:
                raise jwt.ExpiredSignatureError("expired")
            if int(claims["iat"]) > now + 60:
                raise jwt.ImmatureSignatureError("issued in the future")
            return AccessClaims(
                user_id=int(claims["sub"]),
                session_id=str(claims["sid"]),
                issued_at=int(claims["iat"]),
                expires_at=int(claims["exp"]),
                token_id=str(claims["jti"]),
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("The access token has expired.", code="token_expired")
        except (jwt.InvalidTokenError, ValueError, TypeError):
            raise AuthenticationError("The access token is not valid.", code="invalid_token")
