"""The accounts service the app uses: one object composed of the accounts use cases' parts.

`SignIn` (sign_in.py) signs up and signs in; `Sessions` (sessions.py) issues, refreshes,
lists and ends sessions and knows which access tokens are refused; `Passwords`
(passwords.py) confirms, changes and resets passwords; `EmailAddresses` (addresses.py)
verifies and changes the address; `Profiles` (profile.py) reads and edits the profile.
Deleting an account, which spans them, is here. HTTP routes, pages and the WebSocket all
call this one object.

Every part receives the ports it uses; none touches a socket, a database driver or a clock
of its own, so `tests/unit/test_accounts.py` runs them on in-memory fakes.
"""

from __future__ import annotations

from datetime import timedelta

from .addresses import EmailAddresses
from .deletion import AccountDeleted, AccountEvents, NoAccountListeners
from .passwords import Passwords
from .policy import AccountPolicy, LimiterFactory, SignInLimiters, in_process_limiters
from .ports import (
    AccessTokens,
    Mailer,
    PasswordHasher,
    PasswordResetStore,
    RefreshTokenStore,
    SessionStore,
    UserRepository,
)
from .profile import Profiles
from .sessions import Sessions
from .sign_in import SignIn
from .standing import AnyoneMaySignIn, SignInGate
from .two_factor import SecondFactor
from .verification import Signer
from ..clock import Clock


class Accounts:
    def __init__(
        self,
        *,
        users: UserRepository,
        refresh_tokens: RefreshTokenStore,
        sessions: SessionStore,
        resets: PasswordResetStore,
        hasher: PasswordHasher,
        tokens: AccessTokens,
        mailer: Mailer,
        clock: Clock,
        signer: Signer,
        policy: AccountPolicy = AccountPolicy(),
        events: AccountEvents = NoAccountListeners(),
        second_factor: SecondFactor | None = None,
        sign_in_gate: SignInGate = AnyoneMaySignIn(),
        limiter: LimiterFactory | None = None,
    ) -> None:
        """`limiter` makes each rate limiter of `policy`; in this process by default."""
        self.users = users
        self.policy = policy
        self._clock = clock
        self._events = events
        self._second_factor = second_factor
        limiter = limiter if limiter is not None else in_process_limiters(clock)
        guesses = SignInLimiters.of(policy, limiter)
        self._sessions = s = Sessions(users=users, refresh_tokens=refresh_tokens,
                                      sessions=sessions, tokens=tokens, clock=clock,
                                      policy=policy)
        self._passwords = p = Passwords(
            users=users, hasher=hasher, sessions=s, resets=resets, mailer=mailer, clock=clock,
            policy=policy, failures_per_account=guesses.failures_per_account,
            forgot_per_ip=limiter(policy.forgot_per_ip),
            forgot_per_account=limiter(policy.forgot_per_account),
            second_factor=second_factor)
        sign_in = SignIn(users=users, hasher=hasher, sessions=s, limiters=guesses,
                         sign_up_limiter=limiter(policy.sign_up_per_ip),
                         second_factor=second_factor, gate=sign_in_gate)
        profiles = Profiles(users)
        addresses = EmailAddresses(users=users, profiles=profiles, passwords=p, mailer=mailer,
                                   signer=signer, clock=clock, policy=policy,
                                   mails_per_account=limiter(policy.verify_mails_per_account))
        # The use cases each part holds, served as they are.
        self.revocations = s.revocations
        self.load_revocations = s.load_revocations
        self.authenticate = s.authenticate
        self.refresh = s.refresh
        self.log_out = s.log_out
        self.list_sessions = s.list_sessions
        self.end_session = s.end_session
        self.end_other_sessions = s.end_other_sessions
        self.end_all_sessions = s.end_all_sessions
        self.sign_up = sign_in.sign_up
        self.sign_in = sign_in.sign_in
        self.complete_sign_in = sign_in.complete_sign_in
        self.confirm_password = p.confirm_password
        self.confirm_second_factor = p.confirm_second_factor
        self.written_with_password = p.written_with_password
        self.change_password = p.change_password
        self.check_forgot_rate = p.check_forgot_rate
        self.request_password_reset = p.request_password_reset
        self.reset_password = p.reset_password
        self.send_verification = addresses.send_verification
        self.verify_email = addresses.verify_email
        self.change_email = addresses.change_email
        self.me = profiles.me
        self.update_profile = profiles.update_profile

    async def purge_expired(self) -> int:
        """Delete refresh and reset tokens, and used sign-in challenges, that expired over a
        day ago (kept a day so a late reuse of a refresh token is still recognised as reuse
        rather than as garbage)."""
        before = self._clock.now() - timedelta(days=1)
        purged = await self._sessions.purge_expired(before)
        if self._second_factor is not None:
            purged += await self._second_factor.purge_used_challenges(before)
        return purged + await self._passwords.purge_expired(before)

    async def delete_account(self, user_id: int, password: str,
                             code: str | None = None) -> None:
        """Delete the account, confirmed by its password (and a two-factor code when that
        is on): at once it cannot sign in, its
        tokens are refused and its sockets close (ws/session_watch.py), its profile is gone
        and so is everything it had in PostgreSQL. `AccountDeleted` is then published, for
        what other stores hold (see domain/accounts/deletion.py)."""
        confirmed = await self.confirm_password(user_id, password)
        await self.confirm_second_factor(user_id, code)
        now = self._clock.now()
        # Not once a reset or change replaced the password checked: after a reset because
        # it leaked, the old password must not delete the account either.
        await self.written_with_password(
            user_id, password, confirmed,
            lambda checked: self.users.delete(user_id, now, checked))
        self._sessions.refuse_deleted(user_id, now)
        self._events.publish(AccountDeleted(user_id, now, confirmed.user.email))
