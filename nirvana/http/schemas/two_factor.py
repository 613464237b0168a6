"""Request and response models of two-factor sign-in (docs/accounts.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, RootModel

from ..api import In, Out
from .users import SessionOut
from ...schema_text import Lines

CODE_DOC = ("A 6-digit code of your authenticator app, or one of your recovery codes "
            "(spaces and dashes are ignored)")


class TwoFactorChallengeOut(Out):
    """The answer to a right password when two-factor sign-in is on: no session yet. Send
    `challenge` with a code to POST /api/v1/user/signin/two-factor before `expires_at`."""

    two_factor_required: Literal[True] = True
    challenge: str
    expires_at: datetime
    methods: list[Literal["totp", "recovery_code"]] = ["totp", "recovery_code"]


class SignInOut(RootModel[SessionOut | TwoFactorChallengeOut]):
    """A session; or, when the account has two-factor sign-in on, a challenge."""


class SignInCodeIn(In):
    challenge: str = Field(max_length=300)
    code: str = Field(min_length=1, max_length=40, description=CODE_DOC)


class TwoFactorStatusOut(Out):
    enabled: bool
    enabled_at: datetime | None
    pending: bool = Field(description="Set up, waiting for a code to turn it on")
    recovery_codes_left: int


class PasswordIn(In):
    password: Lines = Field(max_length=4096, description="Your password, to confirm")


class TwoFactorSetupOut(Out):
    secret: str = Field(description="Base32, for apps that take the key typed in")
    otpauth_uri: str = Field(description="otpauth://totp/… for apps that scan a QR code")


class CodeIn(In):
    code: str = Field(min_length=1, max_length=40, description=CODE_DOC)


class RecoveryCodesOut(Out):
    recovery_codes: list[str] = Field(
        description="Each works once instead of a code; shown only now, kept only hashed")


class PasswordAndCodeIn(In):
    password: Lines = Field(max_length=4096, description="Your password, to confirm")
    code: str = Field(min_length=1, max_length=40, description=CODE_DOC)
