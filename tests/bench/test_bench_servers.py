"""The benchmark's reading of how long a process waited for a core (bench/servers.py), and
how the chat lag row reports it (bench/nirvana_chat.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.nirvana_chat import _core_wait
from bench.servers import core_wait_seconds, cpu_seconds
from tests.support.waiting import wait_until_blocking

pytestmark = pytest.mark.skipif(not Path("/proc/self/schedstat").exists(),
                                reason="the kernel keeps no scheduler statistics")

BUSY = "print('looping', flush=True)\nwhile True: pass\n"
IDLE = "import time\nprint('sleeping', flush=True)\ntime.sleep(600)\n"


def _on_one_core(code: str, core: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.sched_setaffinity(0, {core}))
    proc.stdout.readline()  # bounded by the test's timeout; the line says it got this far
    return proc


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_three_busy_processes_on_one_core_wait_more_than_they_run_and_an_idle_one_waits_not():
    core = min(os.sched_getaffinity(0))
    idle = _on_one_core(IDLE, core)
    busy: list[subprocess.Popen] = []
    try:
        wait_until_blocking(lambda: _state(idle.pid) == "S", "the idle process to sleep")
        idle_before = core_wait_seconds(idle.pid)
        busy = [_on_one_core(BUSY, core) for _ in range(3)]
        # Measured once each has run a while: by then all three have shared the core.
        wait_until_blocking(lambda: min(cpu_seconds(p.pid) for p in busy) >= 0.15,
                            "each busy process to run 0.15 s of CPU", timeout=60)
        waited = [(core_wait_seconds(p.pid), cpu_seconds(p.pid)) for p in busy]
        idle_waited = core_wait_seconds(idle.pid) - idle_before
    finally:
        for p in [idle, *busy]:
            p.kill()
            p.communicate()
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
