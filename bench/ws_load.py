"""Open-loop WebSocket load: clients in rooms, sends offered at a fixed rate whatever the
server does, latency from each send's *scheduled* time to its arrival at every recipient
(so a stalled server cannot hide its stall by slowing the sender: no coordinated omission).

The generator is generic over a `ChatAdapter` (how to connect a client, send a tagged
message, and read the tag of the next delivered one). `FanoutAdapter` speaks to the fan-out
ceiling server; `NirvanaAdapter` to Nirvana's /ws, following docs/protocol.md.
Every loop is bounded in count and time; only 127.0.0.1 is a target.
"""

from __future__ import annotations

import asyncio
import gc
import random
import resource
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from .report import percentile

PADDING = "x" * 80  # a short chat message
WARM_UP_SECONDS = 2.0
WARM_UP_KEYS = ("deliveries", "p50_ms", "p99_ms", "max_ms", "worst_ms_by_second", "lost")


class ChatConnection(Protocol):
    def send(self, key: str) -> None:
        """Queue a message tagged `key`; never waits (the load stays open-loop)."""
    async def close(self) -> None: ...


class ChatAdapter(Protocol):
    room_size: int

    async def connect(self, client: int, deliver: Callable[[str], None]) -> ChatConnection:
        """Connect client number `client`; call `deliver(key)` for every message it gets."""
    def recipients(self, sender: int) -> int:
        """How many deliveries one send of `sender` must produce (the sender's echo included
        when the server sends one)."""


# -- latency accounting (pure) -------------------------------------------------------------------


@dataclass
class StepBook:
    """What one load step sent and what arrived: latencies, duplicates, losses."""

    step: int
    due: dict[int, float] = field(default_factory=dict)
    expected: dict[int, int] = field(default_factory=dict)
    arrived: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    duplicates: int = 0
    unknown: int = 0
    start: float = 0.0
    worst: dict[int, float] = field(default_factory=dict)  # second of the step -> max latency

    def sent(self, seq: int, due: float, recipients: int) -> None:
        self.due[seq] = due
        self.expected[seq] = recipients
        self.arrived[seq] = 0

    def delivered(self, seq: int, now: float) -> None:
        if seq not in self.due:
            self.unknown += 1
            return
        count = self.arrived[seq] + 1
        self.arrived[seq] = count
        if count > self.expected[seq]:
            self.duplicates += 1
            return
        self.latencies.append(now - self.due[seq])
        second = int(self.due[seq] - self.start) if self.start else 0
        if now - self.due[seq] > self.worst.get(second, 0.0):
            self.worst[second] = now - self.due[seq]

    @property
    def deliveries(self) -> int:
        return len(self.latencies)

    @property
    def lost(self) -> int:
        return sum(max(0, self.expected[s] - self.arrived[s]) for s in self.expected)

    @property
    def outstanding(self) -> int:
        return self.lost

    def summary(self) -> dict[str, Any]:
        ms = [x * 1000 for x in self.latencies]
        return {"sends": len(self.expected), "expected_deliveries": sum(self.expected.values()),
                "deliveries": self.deliveries, "lost": self.lost,
                "duplicates": self.duplicates, "unknown": self.unknown,
                "p50_ms": percentile(ms, 50), "p90_ms": percentile(ms, 90),
                "p99_ms": percentile(ms, 99), "max_ms": max(ms) if ms else None,
                # When the slow deliveries were sent: a stall at the start reads differently
                # from a backlog that grows.
                "worst_ms_by_second": [round(self.worst.get(i, 0.0) * 1000, 1)
                                       for i in range(max(self.worst, default=-1) + 1)]}


def key_of(step: int, seq: int) -> str:
    return f"{step}:{seq}"


def parse_key(key: str) -> tuple[int, int]:
    step, seq = key.split(":", 1)
    return int(step), int(seq)


def schedule(rate: float, duration: float, start: float) -> list[float]:
    """Due times of an open-loop load of `rate` sends/s for `duration` seconds."""
    count = int(rate * duration)
    return [start + i / rate for i in range(count)]


# -- the generator -------------------------------------------------------------------------------


class Load:
    """Connected clients and a reader per client; steps of offered load run one after another."""

    def __init__(self, adapter: ChatAdapter, clients: int, seed: int = 5) -> None:
        self.adapter = adapter
        self.clients = clients
        self.conns: list[ChatConnection] = []
        self.books: dict[int, StepBook] = {}
        self.rng = random.Random(seed)

    async def connect(self, concurrency: int = 100, timeout: float = 120) -> None:
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> ChatConnection:
            async with gate:
                return await self.adapter.connect(i, self._delivered)

        self.conns = await asyncio.wait_for(
            asyncio.gather(*(one(i) for i in range(self.clients))), timeout)

    def _delivered(self, key: str) -> None:
        now = time.perf_counter()
        step, seq = parse_key(key)
        book = self.books.get(step)
        if book is not None:
            book.delivered(seq, now)

    async def warm_up(self, step: int, rate: float) -> dict[str, Any]:
        """A step to discard, before the measured ones: the first second after a thousand
        connects is their tail (for Nirvana: presence announced and stored, pools and caches
        filled), whatever the server, and it set a light step's p99 alone
        (docs/performance.md). Its figures are returned for the raw results."""
        out = await self.step(step, rate, WARM_UP_SECONDS, drain=3.0)
        return {k: out[k] for k in WARM_UP_KEYS}

    async def step(self, step: int, rate: float, duration: float, drain: float
                   ) -> dict[str, Any]:
        """Offer `rate` sends/s for `duration` s, then wait up to `drain` s for stragglers.

        The generator's own garbage collection is off for the step: a collection here would
        hold every delivery that arrives meanwhile and be counted as the server's latency
        (a full one, with a thousand sockets open, took 50-63 ms). What a step leaves is
        collected before the next one starts, outside any measured window."""
        gc.collect()
        gc.disable()
        try:
            return await self._step(step, rate, duration, drain)
        finally:
            gc.enable()

    async def _step(self, step: int, rate: float, duration: float, drain: float
                    ) -> dict[str, Any]:
        book = self.books[step] = StepBook(step)
        marks = getattr(self.adapter, "mark_answers", None)  # Nirvana's with receipts
        if marks is not None:
            marks.clear()
        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        start = book.start = time.perf_counter() + 0.05
        start_unix = time.time() + 0.05  # to line a slow second up with a server's own logs
        behind_max = 0.0
        for seq, due in enumerate(schedule(rate, duration, start)):
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                behind_max = max(behind_max, -delay)
            sender = self.rng.randrange(self.clients)
            book.sent(seq, due, self.adapter.recipients(sender))
            self.conns[sender].send(key_of(step, seq))
        sent_end = time.perf_counter()
        deadline = sent_end + drain
        while book.outstanding and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
        client_cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
        elapsed = sent_end - start
        out = book.summary()
        out.update({
            "offered_sends_per_s": rate,
            "start_unix": start_unix,
            "offered_deliveries_per_s": rate * self.adapter.recipients(0),
            "duration_s": elapsed,
            "delivered_per_s": out["deliveries"] / max(elapsed, 1e-9),
            "scheduler_behind_max_ms": behind_max * 1000,
            "generator_cpu_share": client_cpu / max(time.perf_counter() - start, 1e-9),
        })
        if marks:
            ms = [x * 1000 for x in marks]
            out.update({"mark_answers": len(ms), "mark_p50_ms": percentile(ms, 50),
                        "mark_p99_ms": percentile(ms, 99)})
        # Keep memory bounded across steps: the latencies are summarised now.
        self.books.pop(step, None)
        return out

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.conns), return_exceptions=True)
