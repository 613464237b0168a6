"""At the chat writer's stop: the wait for the commits it had begun (writer.py `stop_taking`).

A batch whose insert was handed to the store may be stored already. Refused at once, its
senders were told to retry a message that is stored, and it was delivered to nobody live
(its members saw it only at their next `history` read). So a stop first lets the commits
in progress end, each answering and delivering what it stored, for at most the store's own
answer timeout (well within the stop's bound, docs/operations.md), and not while the store
leaves a request unanswered: one asked again stays in doubt however long the stop waits.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable, Iterable

log = logging.getLogger("nirvana.chat.store")

# How often the wait looks whether the store left a request unanswered (sends.py `asking`
# says so, no event does): a few turns of the loop at a stop.
LOOK_EVERY = 0.05


async def until_landed(running: Callable[[], Iterable[asyncio.Task[None] | None]],
                       silent: Callable[[], bool], bound: float) -> None:
    """Until every task `running()` names is done, `silent()` is true, or `bound` seconds
    passed. The tasks are not cancelled: the caller cancels what is left."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    looked = told = False
    while not silent() and (left := deadline - loop.time()) > 0:
        tasks = [t for t in running() if t is not None and not t.done()]
        if not tasks:
            return
        # Said only once a first look found a task still running: an idle writer's task
        # ends within that look, and an operator reading a slow stop sees why it waits.
        if looked and not told:
            told = True
            log.info("the chat writer stops: its commit in progress lands first")
        await asyncio.wait(tasks, timeout=min(left, LOOK_EVERY))
        looked = True
