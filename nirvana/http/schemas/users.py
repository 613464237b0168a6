"""Request and response models of the account routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from ...domain.accounts.users import User
from ..api import In, Out


class SignUpIn(In):
    email: str = Field(max_length=320, examples=["ann@example.com"])
    password: str = Field(description="8 characters to 1,024 bytes")
    name: str = Field(max_length=200, examples=["Ann Example"])
    username: str | None = Field(
        default=None,
        max_length=60,
        description="3-30 letters, digits, '_' or '.'; derived from the email when omitted",
    )


class SignInIn(In):
    email: str = Field(max_length=320)
    password: str = Field(max_length=4096)


class RefreshIn(In):
    refresh_token: str | None = Field(
        default=None, max_length=4096, description="Omit to use the refresh_token cookie"
    )


class LogoutIn(RefreshIn):
    pass


class ChangePasswordIn(In):
    current_password: str = Field(max_length=4096)
    new_password: str = Field(max_length=4096)


class ForgotPasswordIn(In):
    email: str = Field(max_length=320)


class ResetPasswordIn(In):
    token: str = Field(max_length=200)
    new_password: str = Field(max_length=4096)


class ProfilePatchIn(In):
    """Only these fields can be changed; anything else (id, email, role, ...) is refused."""

    name: str | None = Field(default=None, max_length=200)
    username: str | None = Field(default=None, max_length=60)
    about: str | None = Field(default=None, max_length=10_000)
    avatar: str | None = Field(
        default=None, max_length=4096, description="URL from /api/v1/image/upload; null clears it"
    )
    status: str | None = Field(default=None, max_length=1000)


class UserOut(Out):
    id: int
    email: str
    username: str
    name: str
    about: str
    avatar: str | None
    status: str
    email_verified: bool
    role: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, user: User) -> "UserOut":
        return cls(
            id=user.id,
            email=user.email,
            username=user.username,
            name=user.name,
            about=user.about,
            avatar=user.avatar_url,
            status=user.status,
            email_verified=user.email_verified,
            role=user.role,
            created_at=user.created_at,
            updated_at=user.updated_at,
        )


class SessionOut(Out):
    jwt: str = Field(description="The access token (HS256 JWT, 15 minutes); also set as cookie")
    token_type: str = "Bearer"
    expires_at: datetime
    refresh_token: str = Field(description="Opaque; single use; rotate with /user/refresh")
    refresh_expires_at: datetime
    user: UserOut


class AcceptedOut(Out):
    message: str
