"""The benchmark clients' tests run against a real server: the `live` fixture and its knobs."""

from tests.support.live import live, server_sndbuf, ws_limits

__all__ = ["live", "server_sndbuf", "ws_limits"]
