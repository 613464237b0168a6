"""Configuration, read once from the environment by `Settings.from_env` (called in run.py).

Nothing in Nirvana reads `os.environ` anywhere else. A bad value fails at start with a
`ConfigError` that names the variable.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")

DEFAULT_ORIGINS = ("http://localhost:8000", "http://127.0.0.1:8000")


class ConfigError(ValueError):
    """A configuration variable has a value Nirvana cannot use."""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("var")
    database_url: str | None = None  # None: start the embedded PostgreSQL
    mongodb_url: str | None = None  # None: start the embedded MongoDB-wire server
    mongodb_db: str = "nirvana"
    redis_url: str | None = None  # None: one instance; set to run several (docs/deployment.md)
    jwt_secret: str | None = None  # None: generated once and kept in data_dir
    cloudinary_url: str | None = None
    smtp_url: str | None = None
    mail_from: str = "Nirvana <no-reply@localhost>"
    log_level: str = "INFO"
    allowed_origins: tuple[str, ...] = DEFAULT_ORIGINS
    public_url: str | None = None  # used in mailed links; defaults to http://host:port
    access_token_ttl: int = 15 * 60
    refresh_token_ttl: int = 7 * 24 * 3600
    reset_token_ttl: int = 30 * 60
    max_json_body: int = 1 << 20
    # Bytes per upload of each kind, and what one user may keep in all (nirvana/domain/uploads.py).
    max_upload_bytes: int = 10 * 1000 * 1000  # images
    max_audio_bytes: int = 20 * 1000 * 1000
    max_video_bytes: int = 50 * 1000 * 1000
    max_file_bytes: int = 20 * 1000 * 1000
    storage_quota_bytes: int = 500 * 1000 * 1000
    signups_per_ip_hour: int = 20
    # State-changing requests one signed-in user may make per minute (http/write_limit.py).
    writes_per_minute: int = 30
    # Whether an account whose email is not verified may publish blogs and chat.
    unverified_may_write: bool = True
    store_timeout: float = 5.0  # seconds a database call may take before the caller gets 503
    ws_compression: bool = False  # permessage-deflate on /ws (see nirvana/serving.py)
    # Drop a retired chat index at start whatever its size (storage/mongo/upgrade.py).
    drop_retired_indexes: bool = False
    # Bytes queued for one WebSocket, and for all of one user's, before the socket that is
    # furthest behind is closed 4008 (nirvana/ws/connection.py).
    ws_queue_bytes: int = 4 << 20
    ws_user_queue_bytes: int = 8 << 20
    # Origins whose pages may call the API from the browser (CORS, with credentials). They
    # are also trusted for cookie-authenticated writes and WebSocket upgrades: see
    # `trusted_origins`.
    cors_origins: tuple[str, ...] = ()
    # Proxies whose X-Forwarded-For/-Proto uvicorn believes ("127.0.0.1", "10.0.0.1,10.0.0.2",
    # "*"); None: none, the peer's own address and scheme are used.
    forwarded_allow_ips: str | None = None
    metrics_token: str | None = None  # None: /metrics answers 404 (see nirvana/metrics.py)
    # Missed chat messages by email (nirvana/missed_messages.py): whether they are tracked,
    # and how long a message stays unread, with no device connected, before it is mailed.
    missed_message_emails: bool = True
    missed_message_delay: float = 120.0
    # The event loop the server runs on (nirvana/serving.py, `loop_factory`): uvloop's, or
    # the standard library's asyncio loop.
    event_loop: str = "uvloop"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def trusted_origins(self) -> tuple[str, ...]:
        """Origins allowed to send cookie-authenticated writes and open WebSockets: a page
        that CORS lets call with credentials must also be let through the Origin check."""
        extra = tuple(o for o in self.cors_origins if o not in self.allowed_origins)
        return self.allowed_origins + extra

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "Settings":
        def get(name: str, cast: Callable[[str], T], default: T) -> T:
            raw = environ.get(name)
            if raw is None or raw.strip() == "":
                return default
            try:
                return cast(raw.strip())
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{name}={_shown(name, raw)} is not valid: {exc}") from None

        port = get("PORT", _port, cls.port)
        public_url = get("PUBLIC_URL", _url("http", "https"), None)
        return cls(
            host=get("HOST", _host, cls.host),
            port=port,
            data_dir=get("DATA_DIR", Path, cls.data_dir),
            database_url=get("DATABASE_URL", _url("postgres", "postgresql"), None),
            mongodb_url=get("MONGODB_URL", _url("mongodb", "mongodb+srv"), None),
            mongodb_db=get("MONGODB_DB", _name, cls.mongodb_db),
            redis_url=get("REDIS_URL", _url("redis", "rediss", "unix"), None),
            jwt_secret=get("JWT_SECRET", _secret, None),
            cloudinary_url=get("CLOUDINARY_URL", _cloudinary_url, None),
            smtp_url=get("SMTP_URL", _url("smtp", "smtps"), None),
            mail_from=get("MAIL_FROM", str, cls.mail_from),
            log_level=get("LOG_LEVEL", _log_level, cls.log_level),
            allowed_origins=get("ALLOWED_ORIGINS", _origins,
                                default_origins(port, public_url)),
            public_url=public_url,
            max_upload_bytes=get("MAX_UPLOAD_BYTES", _positive_int, cls.max_upload_bytes),
            max_audio_bytes=get("MAX_AUDIO_BYTES", _positive_int, cls.max_audio_bytes),
            max_video_bytes=get("MAX_VIDEO_BYTES", _positive_int, cls.max_video_bytes),
            max_file_bytes=get("MAX_FILE_BYTES", _positive_int, cls.max_file_bytes),
            storage_quota_bytes=get("STORAGE_QUOTA_BYTES", _positive_int,
                                    cls.storage_quota_bytes),
            signups_per_ip_hour=get("SIGNUPS_PER_IP_HOUR", _positive_int,
                                    cls.signups_per_ip_hour),
            writes_per_minute=get("WRITES_PER_MINUTE", _positive_int, cls.writes_per_minute),
            ws_compression=get("WS_COMPRESSION", _flag, cls.ws_compression),
            drop_retired_indexes=get("DROP_RETIRED_INDEXES", _flag, cls.drop_retired_indexes),
            unverified_may_write=get("UNVERIFIED_MAY_WRITE", _flag, cls.unverified_may_write),
            ws_queue_bytes=get("WS_QUEUE_BYTES", _positive_int, cls.ws_queue_bytes),
            ws_user_queue_bytes=get("WS_USER_QUEUE_BYTES", _positive_int,
                                    cls.ws_user_queue_bytes),
            cors_origins=get("CORS_ORIGINS", _origins, cls.cors_origins),
            forwarded_allow_ips=get("FORWARDED_ALLOW_IPS", _addresses, None),
            metrics_token=get("METRICS_TOKEN", _token, None),
            missed_message_emails=get("MISSED_MESSAGE_EMAILS", _flag,
                                      cls.missed_message_emails),
            missed_message_delay=get("MISSED_MESSAGE_DELAY", _positive_float,
                                     cls.missed_message_delay),
            event_loop=get("EVENT_LOOP", _event_loop, cls.event_loop),
        )


def setting_names() -> list[str]:
    """Every environment variable `Settings.from_env` reads, in its order (`run.py --help`
    lists them): read off a run of `from_env` itself, so the list cannot drift from it."""
    read: list[str] = []

    class Recorder(dict[str, str]):
        def get(self, name: str, default: object = None) -> object:  # type: ignore[override]
            read.append(name)
            return default

    Settings.from_env(Recorder())
    return read


def default_origins(port: int, public_url: str | None) -> tuple[str, ...]:
    """Without ALLOWED_ORIGINS, the origins a browser shows for this server: the public URL's
    and localhost on the port it listens on, so the web client's own cookie writes and
    WebSocket upgrades pass the Origin check on any port."""
    origins = [f"http://localhost:{port}", f"http://127.0.0.1:{port}"]
    if public_url:
        parts = urlsplit(public_url)
        origins.insert(0, f"{parts.scheme}://{parts.netloc}")
    return tuple(dict.fromkeys(origins))


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 65535:
        raise ValueError("must be between 0 and 65535")
    return value


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0 or value == float("inf"):
        raise ValueError("must be a positive number of seconds")
    return value


def _flag(raw: str) -> bool:
    value = raw.lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be 1/true/yes/on or 0/false/no/off")


def _host(raw: str) -> str:
    if any(c.isspace() for c in raw) or "/" in raw:
        raise ValueError("must be a host name or IP address")
    return raw


def _name(raw: str) -> str:
    if not raw.replace("_", "").replace("-", "").isalnum():
        raise ValueError("must be letters, digits, '-' or '_'")
    return raw


def _secret(raw: str) -> str:
    if len(raw.encode()) < 32:
        raise ValueError("must be at least 32 bytes")
    return raw


def _token(raw: str) -> str:
    # Sent as a Bearer token: printable ASCII without spaces, and long enough not to guess.
    if len(raw) < 16 or not all("!" <= c <= "~" for c in raw):
        raise ValueError("must be at least 16 printable ASCII characters without spaces")
    return raw


def _addresses(raw: str) -> str:
    # uvicorn's own syntax: "*", or IP addresses and networks separated by commas.
    if raw == "*":
        return raw
    for item in raw.split(","):
        try:
            ipaddress.ip_network(item.strip(), strict=False)
        except ValueError:
            raise ValueError(f"{item.strip()!r} is not an IP address or network, nor '*'") \
                from None
    return ",".join(item.strip() for item in raw.split(","))


EVENT_LOOPS = ("uvloop", "asyncio")


def _event_loop(raw: str) -> str:
    name = raw.lower()
    if name not in EVENT_LOOPS:
        raise ValueError(f"must be {' or '.join(EVENT_LOOPS)}")
    return name


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in logging.getLevelNamesMapping():
        raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return level


def _url(*schemes: str) -> Callable[[str], str]:
    def cast(raw: str) -> str:
        try:
            parts = urlsplit(raw)
        except ValueError:
            # urllib's own text may quote the netloc, password included.
            raise ValueError("is not a URL") from None
        if parts.scheme not in schemes:
            raise ValueError(f"scheme must be one of {', '.join(s + '://' for s in schemes)}")
        return raw

    return cast


def _cloudinary_url(raw: str) -> str:
    # Checked whole here, so that a malformed one is refused in one line before the start
    # rather than by the media store once both databases run.
    parts = urlsplit(_url("cloudinary")(raw))
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (not (parts.username and parts.password and parts.hostname) or port is not None
            or parts.path or parts.query or parts.fragment):
        raise ValueError("must look like cloudinary://key:secret@cloud_name")
    return raw


# Their values are credentials: a refusal names the variable without echoing them.
SECRET_SETTINGS = frozenset({"JWT_SECRET", "METRICS_TOKEN"})


def _shown(name: str, raw: str) -> str:
    """The value as a refusal prints it: a secret hidden, a URL's password replaced, and
    anything that may hold a password but cannot be parsed hidden whole (fails closed)."""
    if name in SECRET_SETTINGS:
        return "(hidden)"
    scheme = raw.partition("://")[0] if "://" in raw else ""
    hidden = repr(f"{scheme}://***") if scheme.isascii() and scheme.isalnum() else "(hidden)"
    try:
        parts = urlsplit(raw)
        password = parts.password
    except ValueError:
        return hidden
    if password:
        userinfo, host = parts.netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        shown = parts._replace(netloc=f"{user}:***@{host}").geturl()
    elif "@" in raw:
        return hidden  # e.g. a '#', '?' or '/' in the password cut the netloc short
    else:
        shown = raw
    # libpq also reads the password (and sslpassword) from the query string.
    return repr(_QUERY_PASSWORD.sub(r"\1***", shown))


_QUERY_PASSWORD = re.compile(r"(password=)[^&#]*", re.IGNORECASE)


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        try:
            parts = urlsplit(origin)
        except ValueError:  # urllib's text may quote the netloc
            raise ValueError("an item is not an origin like https://example.com") from None
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
            raise ValueError(f"{origin!r} is not an origin like https://example.com")
    return origins
