"""Liveness and readiness."""

from __future__ import annotations

import asyncio

import orjson

from pydantic import BaseModel, Field

from ..api import Api, Call, JsonResponse, Out
from ..deadline import within

api = Api()
TAGS = ["operations"]
READY_PATIENCE = 2.0  # seconds each store has to answer the probe


class HealthOut(Out):
    status: str


class ReadyOut(Out):
    status: str
    postgres: str
    mongodb: str
    chat_writer: str = Field(
        description='Who writes chat now: "here" (always, for one process), "elsewhere" '
        '(another instance), "none" (no instance leads: chat writes are answered '
        '`unavailable` until one does; the status stays "ok", as this instance still '
        'serves everything else) or "unknown" (the lease could not be read).',
        examples=["here"])


@api.route("GET", "/health", summary="The process is alive", tags=TAGS, response=HealthOut,
           auth=False, uses_stores=False)
async def health(call: Call[None, None]) -> HealthOut:
    return HealthOut(status="ok")


@api.route("GET", "/ready", summary="PostgreSQL and MongoDB are reachable (503 names which "
           "is not)", tags=TAGS, response=ReadyOut, auth=False, errors=(503,))
async def ready(call: Call[None, None]) -> BaseModel | JsonResponse:
    services = call.services

    async def check(ping) -> str:
        try:
            # within(): the ping's own timeout may wait on a cancel a frozen store never
            # confirms; a probe must answer in its own time (see deadline.py).
            await within(ping(), READY_PATIENCE)
            return "ok"
        except Exception:  # any failure, timeouts included, is what this route reports
            return "unavailable"

    async def chat_writer() -> str:
        role = services.chat_role
        if role is None:  # one process: it is the chat writer
            return "here"
        try:
            return await within(role.writer_now(), READY_PATIENCE)
        except Exception:  # PostgreSQL, where the lease is, did not answer
            return "unknown"

    pg, mongo, writer = await asyncio.gather(check(services.ping_postgres),
                                             check(services.ping_mongo), chat_writer())
    result = ReadyOut(status="ok" if pg == mongo == "ok" else "unavailable", postgres=pg,
                      mongodb=mongo, chat_writer=writer)
    if result.status == "ok":
        return result
    down = " and ".join(n for n, s in (("PostgreSQL", pg), ("MongoDB", mongo)) if s != "ok")
    body = {"error": {"code": "unavailable", "message": f"{down} unreachable.",
                      "details": result.model_dump()}}
    return JsonResponse(orjson.dumps(body), status_code=503, headers={"Retry-After": "5"})
