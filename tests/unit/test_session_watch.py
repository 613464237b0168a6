"""The one sweep that closes sockets of expired tokens and revoked sessions."""

from __future__ import annotations

from datetime import datetime, timezone

from nirvana.domain.accounts.sessions import AccessRevocations
from nirvana.domain.accounts.ports import AccessClaims
from nirvana.ws.close_codes import CloseCode
from nirvana.ws.connection import Connection
from nirvana.ws.session_watch import SessionWatch


def claims(user_id: int, session_id: str, issued_at: int, expires_at: int) -> AccessClaims:
    return AccessClaims(user_id=user_id, session_id=session_id, issued_at=issued_at,
                        expires_at=expires_at, token_id=f"t-{session_id}")


async def test_expired_and_revoked_sockets_close_and_the_others_stay_open():
    now = [1_000.0]
    revocations = AccessRevocations()
    watch = SessionWatch(revocations, clock=lambda: now[0])
    fresh, expiring, logged_out, old_password = (Connection(i, f"s{i}", 10) for i in range(4))
    watch.watch(fresh, claims(0, "s0", 900, 2_000))
    watch.watch(expiring, claims(1, "s1", 900, 1_001))
    watch.watch(logged_out, claims(2, "s2", 900, 2_000))
    watch.watch(old_password, claims(3, "s3", 900, 2_000))
    watch.sweep()
    assert all(c.close_request is None for c in (fresh, expiring, logged_out, old_password))

    now[0] = 1_001.0
    revocations.sessions["s2"] = datetime.now(timezone.utc)
    revocations.users[3] = datetime.fromtimestamp(950, timezone.utc)  # tokens before 950
    watch.sweep()
    assert fresh.close_request is None
    assert expiring.close_request == (CloseCode.UNAUTHENTICATED, "token expired")
    assert logged_out.close_request == (CloseCode.UNAUTHENTICATED, "session revoked")
    assert old_password.close_request == (CloseCode.UNAUTHENTICATED, "session revoked")

    watch.unwatch(fresh)
    assert len(watch) == 3
    await watch.close()
