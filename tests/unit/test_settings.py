from pathlib import Path
import re

import pytest

from nirvana.settings import ConfigError, Settings, setting_names
from nirvana.storage.postgres.pool import parse_steps


def test_defaults_without_environment():
    s = Settings.from_env({})
    assert (s.host, s.port, s.data_dir) == ("127.0.0.1", 8000, Path("var"))
    assert s.database_url is None and s.mongodb_url is None
    assert s.ws_compression is False


def test_values_are_cast():
    s = Settings.from_env({"PORT": "9000", "ALLOWED_ORIGINS": "https://a.example, http://b:81/",
                           "LOG_LEVEL": "debug", "DATABASE_URL": "postgresql://u@h/db"})
    assert s.port == 9000
    assert s.allowed_origins == ("https://a.example", "http://b:81")
    assert s.log_level == "DEBUG"
    assert Settings.from_env({"WS_COMPRESSION": "on"}).ws_compression is True
    assert Settings.from_env({"WS_COMPRESSION": "0"}).ws_compression is False


def test_missed_message_mail_is_on_after_two_minutes_unless_set():
    s = Settings.from_env({})
    assert (s.missed_message_emails, s.missed_message_delay) == (True, 120.0)
    s = Settings.from_env({"MISSED_MESSAGE_DELAY": "0.5", "MISSED_MESSAGE_EMAILS": "off"})
    assert (s.missed_message_emails, s.missed_message_delay) == (False, 0.5)


def test_allowed_origins_follow_port_and_public_url_when_not_set():
    assert Settings.from_env({}).allowed_origins == (
        "http://localhost:8000", "http://127.0.0.1:8000")
    assert Settings.from_env({"PORT": "8123"}).allowed_origins == (
        "http://localhost:8123", "http://127.0.0.1:8123")
    s = Settings.from_env({"PORT": "9000", "PUBLIC_URL": "https://blog.example/"})
    assert s.allowed_origins == (
        "https://blog.example", "http://localhost:9000", "http://127.0.0.1:9000")
    s = Settings.from_env({"PUBLIC_URL": "https://blog.example",
                           "ALLOWED_ORIGINS": "https://other.example"})
    assert s.allowed_origins == ("https://other.example",)


@pytest.mark.parametrize("name,value", [
    ("PORT", "eighty"), ("PORT", "70000"), ("DATABASE_URL", "mysql://x"),
    ("MONGODB_URL", "http://x"), ("LOG_LEVEL", "loud"), ("JWT_SECRET", "short"),
    ("ALLOWED_ORIGINS", "evil.example"), ("SMTP_URL", "ftp://x"), ("HOST", "a b"),
    ("MAX_UPLOAD_BYTES", "-1"), ("WS_COMPRESSION", "maybe"),
    ("CORS_ORIGINS", "app.example.com"), ("FORWARDED_ALLOW_IPS", "proxy.local"),
    ("METRICS_TOKEN", "short"), ("METRICS_TOKEN", "a token with spaces in it"),
    ("MISSED_MESSAGE_DELAY", "0"), ("MISSED_MESSAGE_DELAY", "soon"),
    ("MISSED_MESSAGE_DELAY", "inf"), ("MISSED_MESSAGE_EMAILS", "maybe"),
    ("EVENT_LOOP", "tokio"), ("CLOUDINARY_URL", "https://k:s@cloud"),
    ("CLOUDINARY_URL", "cloudinary://key@cloud"), ("CLOUDINARY_URL", "cloudinary://"),
    ("CLOUDINARY_URL", "cloudinary://key:s3cret@cloud:abc"),
    ("CLOUDINARY_URL", "cloudinary://key:s3cret@cloud:443"),
    ("CLOUDINARY_URL", "cloudinary://key:s3cret@cloud/x"),
    ("CLOUDINARY_URL", "cloudinary://key:s3cret@cloud?x=1"),
])
def test_bad_value_names_the_variable(name, value):
    with pytest.raises(ConfigError) as info:
        Settings.from_env({name: value})
    assert str(info.value).startswith(f"{name}=")


def test_the_event_loop_is_uvloop_unless_set():
    assert Settings.from_env({}).event_loop == "uvloop"
    assert Settings.from_env({"EVENT_LOOP": "AsyncIO"}).event_loop == "asyncio"
    assert Settings.from_env({"EVENT_LOOP": "uvloop"}).event_loop == "uvloop"


def test_edge_settings_are_off_unless_set():
    s = Settings.from_env({})
    assert s.cors_origins == () and s.trusted_origins == s.allowed_origins
    assert s.forwarded_allow_ips is None and s.metrics_token is None


def test_cors_origins_are_trusted_for_cookie_writes_too():
    s = Settings.from_env({"CORS_ORIGINS": "https://app.example/, http://localhost:8000",
                           "FORWARDED_ALLOW_IPS": "10.0.0.1, 192.168.0.0/16",
                           "METRICS_TOKEN": "m" * 24})
    assert s.cors_origins == ("https://app.example", "http://localhost:8000")
    assert s.trusted_origins == (*s.allowed_origins, "https://app.example")
    assert s.forwarded_allow_ips == "10.0.0.1,192.168.0.0/16"
    assert s.metrics_token == "m" * 24
    assert Settings.from_env({"FORWARDED_ALLOW_IPS": "*"}).forwarded_allow_ips == "*"


def test_schema_steps_parse_in_order():
    steps = parse_steps(Path("schema.sql").read_text())
    assert [s.version for s in steps] == sorted({s.version for s in steps})
    assert steps[0].version == 1
    with pytest.raises(ValueError):
        parse_steps("-- migration: 0002 b\nSELECT 1;\n-- migration: 0001 a\nSELECT 1;\n")


@pytest.mark.parametrize("name,value", [
    ("JWT_SECRET", "hunter2-but-too-short"), ("METRICS_TOKEN", "hunter2 x"),
    ("DATABASE_URL", "mysql://u:hunter2@db/x"), ("MONGODB_URL", "http://u:hunter2@m"),
    ("REDIS_URL", "http://:hunter2@r:6379/0"), ("SMTP_URL", "ftp://u:hunter2@mail:25"),
    ("CLOUDINARY_URL", "https://key:hunter2@cloud"),
    ("REDIS_URL", "http://u:hunter2@[::1/0"), ("DATABASE_URL", "postgres://u:hunter2@[::1/x"),
    ("DATABASE_URL", "mysql://u:hunter2\uff03x@db/x"),
    ("DATABASE_URL", "mysql://db/x?password=hunter2"),
    ("DATABASE_URL", "mysql://db/x?user=u&PASSWORD=hunter2&sslmode=require"),
    ("DATABASE_URL", "mysql://u:hunter2#x@db/x"), ("SMTP_URL", "ftp://u:hun/ter2@mail"),
    ("CLOUDINARY_URL", "cloudinary://key:hunter2@[cloud"),
])
def test_a_refused_value_never_shows_its_secret(name, value):
    with pytest.raises(ConfigError) as info:
        Settings.from_env({name: value})
    assert str(info.value).startswith(f"{name}=") and "hunter2" not in str(info.value)


def test_a_refused_url_keeps_its_user_and_host_to_be_recognised():
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"DATABASE_URL": "mysql://nirvana:pw@db.internal/x"})
    assert str(info.value).startswith("DATABASE_URL='mysql://nirvana:***@db.internal/x'")


def test_an_unparsable_url_is_hidden_whole_with_its_scheme_kept():
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"DATABASE_URL": "postgres://u:hunter2@[::1/x"})
    assert str(info.value) == "DATABASE_URL='postgres://***' is not valid: is not a URL"


def test_a_query_password_is_masked_and_the_rest_kept():
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"DATABASE_URL": "mysql://db/x?password=hunter2&sslmode=require"})
    assert str(info.value).startswith(
        "DATABASE_URL='mysql://db/x?password=***&sslmode=require'")


def test_a_whole_cloudinary_url_is_taken():
    url = "cloudinary://123:s3cret@Demo-Cloud"
    assert Settings.from_env({"CLOUDINARY_URL": url}).cloudinary_url == url


def test_setting_names_are_the_variables_the_readme_documents():
    # run.py --help lists setting_names(); the README's table gives their defaults.
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([A-Z_]+)` \|", table, re.MULTILINE)
    names = setting_names()
    assert len(names) == len(set(names))
    assert sorted(names) == sorted(documented)
