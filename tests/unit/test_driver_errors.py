"""Each driver exception means the same on both edges: one classification, two tables. And
every `unavailable` advises the same wait on both, wherever it was raised."""

from __future__ import annotations

import asyncpg
import bson.errors
import httpx
import pymongo.errors
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from nirvana.domain.errors import UnavailableError
from nirvana.http import errors as http_errors
from nirvana.storage.mongo.tenures import earlier
from nirvana.ws.errors import error_frame

# exception raised by a driver → (HTTP status, the code both edges answer with)
CASES = [
    (asyncpg.PostgresConnectionError("gone"), 503, "unavailable"),
    (asyncpg.exceptions.CannotConnectNowError("starting up"), 503, "unavailable"),
    (asyncpg.InterfaceError("pool is closing"), 503, "unavailable"),
    (asyncpg.exceptions.QueryCanceledError("statement timeout"), 503, "unavailable"),
    (ConnectionRefusedError(111, "Connection refused"), 503, "unavailable"),
    (FileNotFoundError(2, "No such file or directory"), 503, "unavailable"),
    (OSError("Multiple exceptions: [Errno 111] ..."), 503, "unavailable"),
    (TimeoutError(), 503, "unavailable"),
    (pymongo.errors.ServerSelectionTimeoutError("no servers"), 503, "unavailable"),
    (pymongo.errors.AutoReconnect("primary stepped down"), 503, "unavailable"),
    (pymongo.errors.ExecutionTimeout("time limit"), 503, "unavailable"),
    (pymongo.errors.DuplicateKeyError("E11000 duplicate key", 11000), 409, "conflict"),
    (asyncpg.exceptions.UniqueViolationError("duplicate key"), 409, "conflict"),
    (asyncpg.exceptions.NumericValueOutOfRangeError("out of range"), 422,
     "value_out_of_range"),
    (OverflowError("int too big to convert"), 422, "value_out_of_range"),
    (bson.errors.InvalidDocument("BSON can only handle up to 8-byte ints"), 422,
     "value_out_of_range"),
]


def _ids(case: tuple) -> str:
    return type(case).__name__ if isinstance(case, BaseException) else str(case)


async def _http_answer(exc: BaseException) -> httpx.Response:
    async def fails(request):
        raise exc

    app = Starlette(routes=[Route("/fails", fails)], exception_handlers=http_errors.handlers())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        return await c.get("/fails")


@pytest.mark.parametrize(("exc", "status", "code"), CASES, ids=_ids)
async def test_a_driver_exception_means_the_same_on_http_and_websocket(exc, status, code):
    r = await _http_answer(exc)
    assert r.status_code == status and r.json()["error"]["code"] == code

    frame, close = error_frame(exc, "r1")
    assert frame.code == code and frame.id == "r1" and close is None
    if code == "unavailable":  # both advise the same wait
        assert r.headers["retry-after"] == "5" and frame.retry_after == 5


# Raised by our own code, not a driver, with the wait each advises: the chat writer
# unreachable (storage/redis/chat_forwarding.py), a store slow, and work of an earlier
# tenure (storage/mongo/tenures.py), which a retry at once sends to the new writer.
UNAVAILABLE = [
    (UnavailableError("The chat writer cannot be reached; retry."), 5),
    (UnavailableError("The message store did not answer in time; retry.",
                      code="store_timeout"), 5),
    (earlier(), 1),
]


@pytest.mark.parametrize(("exc", "wait"), UNAVAILABLE, ids=lambda c: getattr(c, "message", c))
async def test_every_unavailable_advises_the_same_wait_on_http_and_websocket(exc, wait):
    r = await _http_answer(exc)
    assert r.status_code == 503 and r.json()["error"]["code"] == exc.code
    assert r.headers["retry-after"] == str(wait)
    frame, close = error_frame(exc, "r1")
    assert frame.code == exc.code and frame.retry_after == wait and close is None


async def test_an_unclassified_exception_is_a_500_and_closes_the_socket_with_1011():
    assert (await _http_answer(KeyError("bug"))).status_code == 500
    frame, close = error_frame(KeyError("bug"), "r1")
    assert frame.code == "internal_error" and close is not None and close[0] == 1011
