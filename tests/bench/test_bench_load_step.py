"""The load generator's step: what it measures must not include the generator's own pauses."""

from __future__ import annotations

import asyncio
import gc
from typing import Callable

import pytest

from bench.ws_load import Load


class Echo:
    """A chat of one: each send is delivered back to its sender on the next loop turn, and
    each send notes whether the generator's garbage collection was on when it was made."""

    room_size = 1

    def __init__(self) -> None:
        self.gc_on_at_send: list[bool] = []

    async def connect(self, client: int, deliver: Callable[[str], None]) -> "Echo.Connection":
        return Echo.Connection(self, deliver)

    def recipients(self, sender: int) -> int:
        return 1

    class Connection:
        def __init__(self, owner: "Echo", deliver: Callable[[str], None]) -> None:
            self.owner, self.deliver = owner, deliver

        def send(self, key: str) -> None:
            self.owner.gc_on_at_send.append(gc.isenabled())
            asyncio.get_running_loop().call_soon(self.deliver, key)

        async def close(self) -> None:
            pass


async def test_a_step_runs_without_the_generators_collections_and_restores_them():
    adapter = Echo()
    load = Load(adapter, clients=3)
    await load.connect()
    assert gc.isenabled()
    step = await load.step(1, rate=200, duration=0.1, drain=1.0)
    assert adapter.gc_on_at_send and not any(adapter.gc_on_at_send)
    assert gc.isenabled()  # back on after the step, as the rest of the process expects
    assert step["deliveries"] == step["sends"] == 20 and step["lost"] == 0
    assert step["start_unix"] > 0  # lines the step up with a server's own logs


async def test_collections_come_back_on_when_a_step_fails():
    class Broken(Echo):
        class Connection(Echo.Connection):
            def send(self, key: str) -> None:
                raise ConnectionResetError("the server went away")

        async def connect(self, client: int, deliver: Callable[[str], None]):
            return Broken.Connection(self, deliver)

    load = Load(Broken(), clients=1)
    await load.connect()
    with pytest.raises(ConnectionResetError):
        await load.step(1, rate=100, duration=0.05, drain=0.1)
    assert gc.isenabled()
