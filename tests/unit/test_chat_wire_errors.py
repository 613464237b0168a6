"""A forwarded chat command that fails on the chat writer with a driver's exception is
answered on the asking instance as the writer's own sockets answer it (ws/errors.py): the
same code, and never an internal error that closes the client's socket."""

from __future__ import annotations

import logging

import asyncpg
import pymongo.errors
import pytest

from nirvana.storage.redis.chat_wire import error_in, error_out, pack, unpack
from nirvana.ws.errors import error_frame


@pytest.mark.parametrize("exc", [
    pymongo.errors.DuplicateKeyError("E11000 duplicate key"),
    asyncpg.exceptions.UniqueViolationError("duplicate key"),
    OverflowError("MongoDB can only handle up to 8-byte ints"),
    asyncpg.exceptions.DataError("out of range"),
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
], ids=lambda exc: type(exc).__name__)
def test_a_driver_error_on_the_writer_is_answered_as_on_the_writers_own_socket(exc):
    answer = unpack(pack({"error": error_out(exc)}))["error"]  # as it travels back
    here, closes_here = error_frame(error_in(answer), "1")
    there, closes_there = error_frame(exc, "1")
    assert (here.code, here.retry_after, closes_here) == (
        there.code, there.retry_after, closes_there)
    assert here.code != "internal_error" and closes_here is None


def test_unavailability_on_the_writer_is_logged_there_as_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="nirvana.chat.forwarding"):
        error_out(asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"))
    [record] = [r for r in caplog.records if r.name == "nirvana.chat.forwarding"]
    assert record.levelno == logging.WARNING and "PostgreSQL unavailable" in record.message
