"""The benchmark's reading of how long a process waited for a core (bench/servers.py), and
how the chat lag row reports it (bench/nirvana_chat.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.nirvana_chat import _core_wait
from bench.servers import core_wait_seconds, cpu_seconds

pytestmark = pytest.mark.skipif(not Path("/proc/self/schedstat").exists(),
                                reason="the kernel keeps no scheduler statistics")

BUSY = "import time\nend = time.monotonic() + 0.6\nwhile time.monotonic() < end: pass\n"


def _on_one_core(code: str, core: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code],
                            preexec_fn=lambda: os.sched_setaffinity(0, {core}))


def test_three_busy_processes_on_one_core_wait_more_than_they_run_and_an_idle_one_waits_not():
    core = min(os.sched_getaffinity(0))
    idle = _on_one_core("import time; time.sleep(2)", core)
    time.sleep(0.3)  # past its start-up, asleep
    idle_before = core_wait_seconds(idle.pid)
    busy = [_on_one_core(BUSY, core) for _ in range(3)]
    time.sleep(0.4)  # the busy ones are in their loop by now
    waited = [(core_wait_seconds(p.pid), cpu_seconds(p.pid)) for p in busy]
    idle_waited = core_wait_seconds(idle.pid) - idle_before
    for p in busy:
        p.wait(timeout=10)
    idle.kill()
    idle.wait()
    # Three sharing one core: each runs about a third of the time and waits two thirds.
    # A sleeping one, ready to run at no point, has not waited at all.
    assert all(wait > 0.05 and wait > 1.2 * cpu for wait, cpu in waited), waited
    assert idle_waited < 0.005


def test_a_process_that_is_gone_has_no_wait():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    assert core_wait_seconds(p.pid) == 0.0


def test_the_lag_row_names_the_core_wait_only_where_it_was_measured():
    assert "waited 150 ms per second" in _core_wait({"server_core_wait_ms_per_s": 150.2})
    # A kernel without scheduler statistics reads 0: the row then claims nothing.
    assert _core_wait({"server_core_wait_ms_per_s": 0.0}) == ""
