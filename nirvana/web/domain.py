"""The domain names the pages use, imported in this one place (the domain's modules move;
only these lines follow them)."""

from ..domain.accounts.sessions import Session
from ..domain.accounts.two_factor import SignInChallenge
from ..domain.accounts.users import ProfileChanges, User
from ..domain.blogs.model import (
    Audience,
    Blog,
    BlogChanges,
    BlogFields,
    BlogFilter,
    BlogStatus,
    Comment,
    Place,
    decode_cursor,
    encode_cursor,
)
from ..domain.blogs.reactions import Reaction
from ..domain.errors import (
    AuthenticationError,
    ConflictError,
    DomainError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
)
from ..domain.idempotency import IdempotencyKey, IdempotencyKeyReusedError
from ..domain.notifications.cursors import decode_cursor as decode_notification_cursor
from ..domain.notifications.cursors import encode_cursor as encode_notification_cursor
from ..domain.notifications.preferences import Channel, Preference
from ..domain.social.cursors import page_request
from ..domain.social.graph import USERNAME_SHAPE
from ..domain.sniffing import MediaKind
from ..domain.uploads import decode_cursor as decode_upload_cursor
from ..domain.uploads import encode_cursor as encode_upload_cursor
from ..ws.notification_frames import NotificationOut
from ..domain.social.entities import Direction, Profile

__all__ = [
    "NotificationOut", "decode_notification_cursor", "encode_notification_cursor",
    "Channel", "Preference", "decode_upload_cursor", "encode_upload_cursor",
    "Audience", "AuthenticationError", "Blog", "BlogChanges", "BlogFields", "BlogFilter",
    "BlogStatus", "Comment", "MediaKind", "ConflictError", "Direction", "DomainError",
    "IdempotencyKey", "IdempotencyKeyReusedError",
    "InvalidInputError",
    "NotFoundError",
    "PermissionDeniedError", "Place", "Profile", "ProfileChanges", "RateLimitedError", "Reaction",
    "Session", "SignInChallenge", "USERNAME_SHAPE", "User",
    "decode_cursor", "encode_cursor", "page_request",
]
