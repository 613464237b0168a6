"""One JSON object per log line, with the structured fields passed as `extra=`.

The access log writes one line per request, so its cost is on every request's path (it was a
large share of a cheap request's CPU: docs/performance.md); what made it so, and what is done
about it here:

- `LogRecord` looked up the caller's file and line, the thread, process and multiprocessing
  names for every record; our lines show none of them, so the logging module's documented
  switches for that are turned off (see "Optimization" in the logging HOWTO).
- An access line is an `AccessRecord`: a real `LogRecord` that goes through the logger, its
  filters and every handler (tests' `caplog` included), but is built from the fields dict in
  a few assignments, and `JsonFormatter` dumps that dict as it is.
- `StreamHandler` flushed — one write(2) — after every line. `BufferedStderrHandler` writes
  into a 64 KiB buffer instead, flushed by a daemon thread every `FLUSH_INTERVAL` seconds,
  at once for WARNING and above, and at exit by `logging.shutdown`. The trade-off: a
  `kill -9` can lose the last `FLUSH_INTERVAL` of INFO lines (never a warning or error).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from datetime import datetime, timezone
from typing import TextIO

import orjson

FLUSH_INTERVAL = 0.2  # seconds an INFO line may wait in the buffer

_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {
    "message", "asctime", "taskName", "color_message"
}


_SECRET_PARAM = re.compile(r"([?&](?:token|access_token|jwt|refresh_token)=)[^&\s\"']+", re.I)


class RedactSecrets(logging.Filter):
    """uvicorn logs each WebSocket upgrade with its query string, and browsers authenticate
    WebSockets with `?token=<jwt>`: tokens must never reach a log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if type(record) is AccessRecord:
            return True  # its message is the constant "request": nothing to redact
        message = record.getMessage()
        redacted = _SECRET_PARAM.sub(r"\1[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class AccessRecord(logging.LogRecord):
    """One request's access line. What every LogRecord has but an access line does not use
    (source location, thread, process) is copied from constants rather than looked up; it
    must be in the instance's __dict__, which %-style formatters read."""

    _CONSTANT = {
        "msg": "request", "args": (), "levelno": logging.INFO, "levelname": "INFO",
        "pathname": "middleware.py", "filename": "middleware.py", "module": "middleware",
        "funcName": "__call__", "lineno": 0, "exc_info": None, "exc_text": None,
        "stack_info": None, "thread": None, "threadName": None, "process": None,
        "processName": None, "taskName": None,
    }

    def __init__(self, name: str, fields: dict[str, object]) -> None:
        created = time.time()
        d = self.__dict__
        d.update(self._CONSTANT)
        d.update(fields)
        self.name = name
        self.created = created
        self.msecs = (created - int(created)) * 1000
        self.relativeCreated = (created - logging._startTime) * 1000  # type: ignore[attr-defined]
        self._fields = fields


def log_access(logger: logging.Logger, fields: dict[str, object]) -> None:
    """Emit one access line with these fields through `logger`, at INFO."""
    if logger.isEnabledFor(logging.INFO):
        logger.handle(AccessRecord(logger.name, fields))


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._second_text = ""

    def timestamp(self, created: float) -> str:
        """ISO 8601 UTC to the millisecond; the date and time part is rendered once a second
        (datetime formatting was a third of the formatter's cost)."""
        second = int(created)
        if second != self._second:
            self._second_text = datetime.fromtimestamp(second, timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%S")
            self._second = second
        return f"{self._second_text}.{int((created - second) * 1000):03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        if type(record) is AccessRecord:
            return orjson.dumps({"ts": self.timestamp(record.created), "level": "info",
                                 "logger": record.name, "msg": "request", **record._fields},
                                default=str).decode()
        entry = {
            "ts": self.timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key[0] != "_":
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class BufferedStderrHandler(logging.StreamHandler):
    """Lines to stderr through a 64 KiB buffer; see the module docstring for why."""

    def __init__(self, stream: TextIO | None = None) -> None:
        if stream is None:
            # Our own buffered writer on fd 2 (sys.stderr is line-buffered: a write per line).
            stream = open(sys.stderr.fileno(), "w", buffering=64 * 1024, encoding="utf-8",
                          errors="backslashreplace", closefd=False)
        super().__init__(stream)
        self._stopped = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + "\n")
            if record.levelno >= logging.WARNING:
                self.stream.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def start_flusher(self, interval: float = FLUSH_INTERVAL) -> None:
        def run() -> None:
            while not self._stopped.wait(interval):
                self.flush()  # takes the handler's lock

        threading.Thread(target=run, name="log-flusher", daemon=True).start()

    def close(self) -> None:
        self._stopped.set()
        self.flush()
        super().close()


def configure_logging(level: str) -> None:
    # Documented switches: records skip caller, thread and process look-ups nobody prints.
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = BufferedStderrHandler()
    handler.setFormatter(JsonFormatter())
    # On the handler, not on uvicorn's logger: any component's line is redacted.
    handler.addFilter(RedactSecrets())
    handler.start_flusher()
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's own access log would duplicate ours (which has the route and user id).
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("pymongo").setLevel(logging.WARNING)
