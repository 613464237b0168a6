"""Each driver exception means the same on both edges: one classification, two tables."""

from __future__ import annotations

import asyncpg
import bson.errors
import httpx
import pymongo.errors
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from nirvana.http import errors as http_errors
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


@pytest.mark.parametrize(("exc", "status", "code"), CASES, ids=_ids)
async def test_a_driver_exception_means_the_same_on_http_and_websocket(exc, status, code):
    async def fails(request):
        raise exc

    app = Starlette(routes=[Route("/fails", fails)], exception_handlers=http_errors.handlers())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        r = await c.get("/fails")
    assert r.status_code == status and r.json()["error"]["code"] == code

    frame, close = error_frame(exc, "r1")
    assert frame.code == code and frame.id == "r1" and close is None
    if code == "unavailable":  # both advise the same wait
        assert r.headers["retry-after"] == "5" and frame.retry_after == 5


async def test_an_unclassified_exception_is_a_500_and_closes_the_socket_with_1011():
    async def fails(request):
        raise KeyError("bug")

    app = Starlette(routes=[Route("/fails", fails)], exception_handlers=http_errors.handlers())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        assert (await c.get("/fails")).status_code == 500
    frame, close = error_frame(KeyError("bug"), "r1")
    assert frame.code == "internal_error" and close is not None and close[0] == 1011
