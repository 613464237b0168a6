"""Request and response models of the account routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from ...domain.accounts import users as u
from ...domain.urls import MAX_URL
from ...domain.accounts.users import User
from ..api import In, Out
from ...schema_text import Lines


NAME_DOC = "Shown to others; must show something (not only spaces or invisible characters)"
USERNAME_DOC = "3-30 letters, digits, '_' or '.', not starting or ending with '.', no '..'"
# The domain's rule (domain/accounts/users.py USERNAME_RE), said without look-ahead, which
# pydantic's regex engine lacks: each '.' is followed by a letter, digit or '_'.
USERNAME_PATTERN = r"^[A-Za-z0-9_](?:\.?[A-Za-z0-9_])+$"
PASSWORD_DOC = (f"At least {u.MIN_PASSWORD_CHARS} characters and at most "
                f"{u.MAX_PASSWORD_BYTES} bytes of UTF-8")


class SignUpIn(In):
    email: str = Field(min_length=3, max_length=u.MAX_EMAIL, examples=["ann@example.com"],
                       description="One '@', a dot in the domain, no spaces")
    password: str = Field(min_length=u.MIN_PASSWORD_CHARS, max_length=u.MAX_PASSWORD_BYTES,
                          description=PASSWORD_DOC)
    name: str = Field(min_length=1, max_length=u.MAX_NAME, examples=["Ann Example"],
                      description=NAME_DOC)
    username: str | None = Field(
        default=None, min_length=3, max_length=30, pattern=USERNAME_PATTERN,
        description=USERNAME_DOC + "; derived from the email when omitted",
    )


class SignInIn(In):
    email: str = Field(max_length=320)
    password: Lines = Field(max_length=4096)


class RefreshIn(In):
    refresh_token: str | None = Field(
        default=None, max_length=4096, description="Omit to use the refresh_token cookie"
    )


class LogoutIn(RefreshIn):
    pass


class ChangePasswordIn(In):
    current_password: Lines = Field(max_length=4096)
    new_password: str = Field(min_length=u.MIN_PASSWORD_CHARS, max_length=u.MAX_PASSWORD_BYTES,
                              description=PASSWORD_DOC)


class ForgotPasswordIn(In):
    email: str = Field(max_length=320)


class ResetPasswordIn(In):
    token: str = Field(max_length=200)
    new_password: str = Field(min_length=u.MIN_PASSWORD_CHARS, max_length=u.MAX_PASSWORD_BYTES,
                              description=PASSWORD_DOC)


class ProfilePatchIn(In):
    """Only these fields can be changed; anything else (id, email, role, ...) is refused.
    A null leaves its field as it is, except `avatar`'s, which clears the picture: a body
    with no field, or only nulls but for avatar's, changes nothing (422 `empty_update`)."""

    name: str | None = Field(default=None, min_length=1, max_length=u.MAX_NAME,
                             description=NAME_DOC)
    username: str | None = Field(default=None, min_length=3, max_length=30,
                                 pattern=USERNAME_PATTERN, description=USERNAME_DOC)
    about: Lines | None = Field(default=None, max_length=u.MAX_ABOUT,
                                description="May hold line breaks and tabs")
    avatar: str | None = Field(
        default=None, max_length=MAX_URL,
        description="An http(s) URL or a /media/ path from /api/v1/image/upload; null clears it")
    status: str | None = Field(default=None, max_length=u.MAX_STATUS, description="One line")

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        # `{}` is refused (422 empty_update): say so to a client reading the schema.
        schema = handler.resolve_ref_schema(super().__get_pydantic_json_schema__(
            core_schema, handler))
        schema["minProperties"] = 1
        return schema


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


class VerifyEmailIn(In):
    token: str = Field(max_length=512, description="From the link mailed to the address")


class ChangeEmailIn(In):
    email: str = Field(max_length=320, examples=["ann@example.org"])
    password: Lines = Field(max_length=4096, description="Your password, to confirm")


class DeleteAccountIn(In):
    password: Lines = Field(max_length=4096, description="Your password, to confirm")
    code: str | None = Field(default=None, min_length=1, max_length=40,
                             description="A two-factor code (or recovery code): needed "
                                         "when two-factor sign-in is on")


class DeviceSessionOut(Out):
    id: str = Field(description="The session id (the access token's `sid`)")
    device: str = Field(description="Named from the user agent, e.g. 'Firefox on Linux'")
    ip: str = Field(description="The network it signed in from (IPv4 /24, IPv6 /48)")
    created_at: datetime
    last_used_at: datetime = Field(description="Its last sign-in or token renewal")
    current: bool = Field(description="The session making this request")


class DeviceSessionsOut(Out):
    sessions: list[DeviceSessionOut]


class SessionsEndedOut(Out):
    ended: int
