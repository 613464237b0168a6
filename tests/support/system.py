"""What the tests that run other programs share: finding a system program, a free port."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket

import pytest


def require_program(path: str, package: str) -> str:
    """The executable at `path` (or on PATH by its name), or a skip saying which Debian
    package to install; under CI=true its absence fails the run (`.ci/run` installs it)."""
    found = path if os.access(path, os.X_OK) else shutil.which(os.path.basename(path))
    if found:
        return found
    reason = f"{path} is missing: install Debian's {package} (apt-get install {package})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """`n` distinct free ports: each socket stays bound until all are chosen, as two binds in
    a row, each closed at once, may get the same port."""
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(n)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
