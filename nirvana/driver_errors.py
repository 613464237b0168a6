"""What a database driver's exception means to a client: the one classification that both
edges' error tables (`nirvana/http/errors.py`, `nirvana/ws/errors.py`) answer from.

It names asyncpg and pymongo, so it cannot live in `nirvana/domain/`; it is not an adapter
either (the adapters raise these, the edges answer them), hence its own module here. Domain
errors are not classified here: they carry their own code.
"""

from __future__ import annotations

import enum

import asyncpg
import bson.errors
import pymongo.errors


class DriverFailure(enum.Enum):
    UNAVAILABLE = "unavailable"  # a store is down, slow or unreachable: retry shortly
    CONFLICT = "conflict"  # a unique key taken by a concurrent write
    OUT_OF_RANGE = "value_out_of_range"  # a number no store can hold, unbounded by a model
    BUG = "internal_error"  # anything else: logged, answered 500 / closed 1011


# Checked in order, first match wins, so the specific classes (a duplicate key is a
# pymongo OperationFailure) come before the broad ones.
_TABLE: tuple[tuple[type[BaseException], DriverFailure, str], ...] = (
    (pymongo.errors.DuplicateKeyError, DriverFailure.CONFLICT, "MongoDB"),
    (asyncpg.exceptions.UniqueViolationError, DriverFailure.CONFLICT, "PostgreSQL"),
    (asyncpg.exceptions.DataError, DriverFailure.OUT_OF_RANGE, "PostgreSQL"),
    (bson.errors.InvalidDocument, DriverFailure.OUT_OF_RANGE, "MongoDB"),
    (OverflowError, DriverFailure.OUT_OF_RANGE, "A store"),
    (asyncpg.PostgresConnectionError, DriverFailure.UNAVAILABLE, "PostgreSQL"),
    (asyncpg.exceptions.CannotConnectNowError, DriverFailure.UNAVAILABLE, "PostgreSQL"),
    (asyncpg.InterfaceError, DriverFailure.UNAVAILABLE, "PostgreSQL"),
    (asyncpg.exceptions.QueryCanceledError, DriverFailure.UNAVAILABLE, "PostgreSQL"),
    (pymongo.errors.ConnectionFailure, DriverFailure.UNAVAILABLE, "MongoDB"),
    (pymongo.errors.ExecutionTimeout, DriverFailure.UNAVAILABLE, "MongoDB"),
    (pymongo.errors.WTimeoutError, DriverFailure.UNAVAILABLE, "MongoDB"),
    # Any other MongoDB driver error is a transient state more often than a bug (a closed
    # client at shutdown, a primary stepping down): the chat socket stays open to retry.
    (pymongo.errors.PyMongoError, DriverFailure.UNAVAILABLE, "MongoDB"),
    (TimeoutError, DriverFailure.UNAVAILABLE, "A store"),
    # A pool connecting to a stopped server raises the socket's own error: refused (TCP),
    # FileNotFoundError (a Unix socket gone) or OSError("Multiple exceptions") (IPv4+6).
    (OSError, DriverFailure.UNAVAILABLE, "A store"),
)

UNAVAILABLE_TYPES: tuple[type[BaseException], ...] = tuple(
    cls for cls, failure, _ in _TABLE if failure is DriverFailure.UNAVAILABLE)
CLASSIFIED_TYPES: tuple[type[BaseException], ...] = tuple(cls for cls, _, _ in _TABLE)


def classify(exc: BaseException) -> tuple[DriverFailure, str]:
    """The failure `exc` stands for, and the store to name in the answer."""
    for cls, failure, store in _TABLE:
        if isinstance(exc, cls):
            return failure, store
    return DriverFailure.BUG, ""

