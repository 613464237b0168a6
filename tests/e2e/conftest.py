"""The end-to-end tests run against a real server: the `live` fixture and its knobs, and a
`tmp_path` outside pytest's base directory (see tests/support/running.py)."""

from tests.support.live import live, server_sndbuf, ws_limits
from tests.support.running import tmp_path

__all__ = ["live", "server_sndbuf", "ws_limits", "tmp_path"]
