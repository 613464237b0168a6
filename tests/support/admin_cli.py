"""`python -m nirvana.admin` as an operator runs it: a process of its own, with its settings
from the environment."""

from __future__ import annotations

import asyncio
import sys
from typing import Mapping


async def run_admin(env: Mapping[str, str], *args: str) -> tuple[int, str, str]:
    """Its exit status, standard output and standard error."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nirvana.admin", *args, env=dict(env),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
