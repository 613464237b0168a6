"""How long an account erasure's second phase holds the chat writer (every send waits),
with SENT messages stored while its first phase runs. Measures; asserts nothing. Run by
name (not collected by the suite):

    .venv/bin/python -m pytest -q -s tests/integration/measure_erasure_phase2.py

Prints, per round, the writer's wall and this process's CPU time in the erasure's op (its
summary flush included), for ROUNDS rounds."""

from __future__ import annotations

import asyncio
import os
import time

from nirvana.storage.mongo.chat_store import MongoChatStore
from tests.support.chat_writers import chat_on, draft, queue, send
from tests.support.erasure_steps import ErasureSteps

SENT = int(os.environ.get("ERASURE_SENT", "2000"))
ROUNDS = int(os.environ.get("ERASURE_ROUNDS", "3"))


async def test_measure_phase_two(services, chats, writers):
    a, b, with_b, with_c = chats
    for round_ in range(ROUNDS):
        store = MongoChatStore()
        writers.append(store)
        steps = ErasureSteps()
        chat = chat_on(store, services, steps)
        await send(store, with_b, b, f"r{round_} before")
        held: list[tuple[float, float]] = []
        commit_op = store.writer._alone._op

        async def timed(op, fence, commit_op=commit_op, held=held):
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                await commit_op(op, fence)
            finally:
                held.append((time.perf_counter() - wall, time.process_time() - cpu))
        store.writer._alone._op = timed

        async def sends_meanwhile(round_=round_) -> None:
            # Half b's (to erase), half a's to c (their summaries buffered).
            for start in range(0, SENT, 100):
                await asyncio.gather(*(queue(store, draft(
                    with_b if n % 2 else with_c, b if n % 2 else a, f"r{round_} d{n}"))
                    for n in range(start, min(start + 100, SENT))))
        steps.after_first_phase = sends_meanwhile
        await chat.erase_sender(b)
        wall, cpu = held[-1]
        print(f"\nround {round_}: {SENT} stored during phase 1; writer held "
              f"{wall * 1000:.1f} ms wall, {cpu * 1000:.1f} ms CPU "
              f"(load {os.getloadavg()[0]:.2f})")
        await store.close()
        writers.remove(store)
