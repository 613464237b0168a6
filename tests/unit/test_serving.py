"""How run.py serves: the event loop and the garbage-collector settings it starts with."""

from __future__ import annotations

import asyncio
import gc

import pytest
import uvloop

from nirvana.serving import GC_THRESHOLDS, loop_factory, tune_gc


@pytest.mark.parametrize("name,loop_type", [("uvloop", uvloop.Loop),
                                            ("asyncio", asyncio.BaseEventLoop)])
def test_each_event_loop_setting_makes_that_loop(name, loop_type):
    async def running() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    with asyncio.Runner(loop_factory=loop_factory(name)) as runner:
        loop = runner.run(running())
    assert isinstance(loop, loop_type)
    if name == "asyncio":
        assert not isinstance(loop, uvloop.Loop)


def test_tune_gc_freezes_start_up_objects_and_raises_the_thresholds():
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 1000  # the modules and models loaded so far
        assert GC_THRESHOLDS[0] > before[0]
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
