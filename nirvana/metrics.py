"""Prometheus metrics: one registry per `Services`, and small observer objects that the code
being measured calls.

What is measured and where it is called from:

- HTTP requests by method, route template (never the raw path: the labels stay bounded) and
  status, with their latency: `HttpObserver.observe`, called by RequestContextMiddleware once
  per request, and only when metrics are enabled.
- The chat writer (storage): batch sizes, commit latency, what is still queued behind a
  batch, failed batches: `ChatWriterObserver`, injected into the writer with a no-op default.
- Chat messages sent and the devices they were delivered to: `CountingPublisher`, which
  wraps the hub where the chat service publishes.
- Open WebSockets, and the bytes and frames queued for them: read from the hub when
  scraped, so they cost nothing in between.
- Store errors answered 503, by store: counted where the error table answers them (app.py).
- Event-loop lag: `watch_loop`, a task that measures how late a short sleep wakes up; it
  also says which event loop the process runs on (EVENT_LOOP).
- Garbage-collection pauses and what they freed, by generation: `watch_gc`, a `gc.callbacks`
  hook timing each collection (a collection holds the loop for as long as it runs).

`/metrics` is served only when METRICS_TOKEN is set, to a `Authorization: Bearer` with that
token; otherwise it answers 404 and nothing is measured (bootstrap.py wires the observers
only then).
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "ChatWriterObserver", "CountingPublisher", "Metrics",
           "NO_WRITER_OBSERVER"]

# The methods Nirvana serves; anything else a client invents is counted as "other".
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LAG_INTERVAL = 0.25  # seconds between two event-loop lag samples


class ChatWriterObserver:
    """What the chat writer reports after each batch. This no-op base is the default, so
    the writer needs no metrics to run (tests, benchmarks)."""

    def batch_committed(self, size: int, queued: int, seconds: float) -> None:
        """A batch of `size` queued writes was committed in `seconds`; `queued` writes
        were waiting behind it."""

    def batch_failed(self, size: int, queued: int) -> None:
        """A batch of `size` writes failed (its callers are answered `unavailable`)."""


NO_WRITER_OBSERVER = ChatWriterObserver()


class _WriterMetrics(ChatWriterObserver):
    def __init__(self, registry: CollectorRegistry) -> None:
        self._size = Histogram(
            "nirvana_chat_writer_batch_size", "Writes (sends, receipts) per chat writer commit.",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000), registry=registry)
        self._seconds = Histogram(
            "nirvana_chat_writer_commit_seconds", "Time a chat writer commit took.",
            buckets=LATENCY_BUCKETS, registry=registry)
        self._queued = Gauge(
            "nirvana_chat_writer_queue_depth",
            "Writes waiting for the chat writer, as of its last batch.", registry=registry)
        self._failed = Counter(
            "nirvana_chat_writer_failed_batches", "Chat writer batches that failed.",
            registry=registry)

    def batch_committed(self, size: int, queued: int, seconds: float) -> None:
        self._size.observe(size)
        self._seconds.observe(seconds)
        self._queued.set(queued)

    def batch_failed(self, size: int, queued: int) -> None:
        self._failed.inc()
        self._queued.set(queued)


class HttpObserver:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._requests = Histogram(
            "nirvana_http_request_seconds",
            "HTTP requests by method, route template and status, with their latency "
            "(_count is the number of requests).",
            ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=registry)
        # The labelled child per (method, route, status), looked up once: labels() takes a
        # lock and builds a key on every call.
        self._children: dict[tuple[str, str, int], Any] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        child = self._children.get(key)
        if child is None:
            label = method if method in KNOWN_METHODS else "other"
            child = self._children[key] = self._requests.labels(label, route, str(status))
        child.observe(seconds)


class CountingPublisher:
    """The chat service's publisher (the hub), counting messages as they are published and
    the connected devices each is handed to; every other call goes to the hub untouched."""

    def __init__(self, hub: Any, metrics: "Metrics") -> None:
        self._hub = hub
        self._sent = metrics.messages_sent
        self._delivered = metrics.messages_delivered

    def message_posted(self, message: Any, conversation: Any) -> None:
        self._hub.message_posted(message, conversation)
        self._sent.inc()
        self._delivered.inc(sum(map(self._hub.count, message.audience)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._hub, name)


class Metrics:
    """The registry, and the observers that feed it. Nothing here is global: each
    `Services` has its own, so tests and several apps in one process do not share counts."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http = HttpObserver(self.registry)
        self.chat_writer = _WriterMetrics(self.registry)
        self.messages_sent = Counter(
            "nirvana_chat_messages_sent", "Chat messages stored and published.",
            registry=self.registry)
        self.messages_delivered = Counter(
            "nirvana_chat_messages_delivered",
            "Chat messages handed to connected devices (one per device).",
            registry=self.registry)
        self.store_errors = Counter(
            "nirvana_store_errors", "Requests answered 503 because a store failed, by store.",
            ["store"], registry=self.registry)
        self.loop_lag = Histogram(
            "nirvana_event_loop_lag_seconds",
            f"How late a {LAG_INTERVAL} s sleep of the event loop woke up.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=self.registry)
        self._loop_info = Gauge(
            "nirvana_event_loop_info", "The event loop the process runs on (1 for its name).",
            ["loop"], registry=self.registry)
        self.gc_pause = Histogram(
            "nirvana_gc_pause_seconds",
            "How long each garbage collection held the process, by generation.",
            ["generation"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5),
            registry=self.registry)
        self.gc_collected = Counter(
            "nirvana_gc_collected_objects",
            "Objects garbage collections found unreachable and freed, by generation.",
            ["generation"], registry=self.registry)
        self._websockets = Gauge(
            "nirvana_websockets_open", "Authenticated WebSocket connections open.",
            registry=self.registry)

        self._ws_queued_bytes = Gauge(
            "nirvana_websocket_queued_bytes",
            "Bytes of frames queued for WebSockets that read slowly, all sockets together.",
            registry=self.registry)
        self._ws_queued_frames = Gauge(
            "nirvana_websocket_queued_frames",
            "Frames queued for WebSockets that read slowly, all sockets together.",
            registry=self.registry)

    def count_websockets(self, count: Callable[[], int]) -> None:
        """Read the number of open WebSockets from `count` at each scrape."""
        self._websockets.set_function(count)

    def watch_websocket_queues(self, queued_bytes: Callable[[], int],
                               queued_frames: Callable[[], int]) -> None:
        """Read the outgoing queues' totals (bytes, frames) at each scrape."""
        self._ws_queued_bytes.set_function(queued_bytes)
        self._ws_queued_frames.set_function(queued_frames)

    def watch_chat_writer_role(self, leading: Callable[[], bool],
                               failed_leads: Callable[[], int]) -> None:
        """With several instances: whether this one is the chat writer, and its failed
        leads in a row, read at each scrape (no instance leading = chat writes refused)."""
        Gauge("nirvana_chat_writer_leading",
              "1 while this instance is the chat writer (several instances).",
              registry=self.registry).set_function(lambda: float(leading()))
        Gauge("nirvana_chat_writer_failed_leads",
              "Tries in a row to become the chat writer that failed (its fence could not "
              "be raised); 0 after one succeeds.",
              registry=self.registry).set_function(failed_leads)

    def watch_chat_writer_stall(self, stalled_for: Callable[[], float]) -> None:
        """How long the chat writer has waited for its store to answer a request it asks
        again, read at each scrape: chat writes wait meanwhile, and no batch reports."""
        Gauge("nirvana_chat_writer_stalled_seconds",
              "Seconds this chat writer has been asking its store again for a request it "
              "got no answer to (chat writes wait meanwhile); 0 while the store answers.",
              registry=self.registry).set_function(stalled_for)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def watch_gc(self) -> Callable[[], None]:
        """Time every garbage collection from now; the returned function stops it."""
        started = 0.0
        pauses = [self.gc_pause.labels(str(generation)) for generation in range(3)]
        collected = [self.gc_collected.labels(str(generation)) for generation in range(3)]

        def timed(phase: str, info: dict[str, int]) -> None:
            nonlocal started
            if phase == "start":
                started = time.perf_counter()
            else:
                pauses[info["generation"]].observe(time.perf_counter() - started)
                collected[info["generation"]].inc(info["collected"])

        gc.callbacks.append(timed)
        return lambda: gc.callbacks.remove(timed)

    async def watch_loop(self, interval: float = LAG_INTERVAL) -> None:
        """Runs until cancelled: a sleep that wakes up late measures the callbacks that
        held the loop in between."""
        loop = asyncio.get_running_loop()
        self._loop_info.labels(type(loop).__module__.partition(".")[0]).set(1)
        while True:
            # perf_counter, not loop.time(): uvloop's is read once per turn of the loop, in
            # whole milliseconds, so the callbacks that ran before this one went uncounted.
            start = time.perf_counter()
            await asyncio.sleep(interval)
            self.loop_lag.observe(max(0.0, time.perf_counter() - start - interval))
