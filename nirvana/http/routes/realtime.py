"""What the live side of chat offers over HTTP: the JSON Schema of every WebSocket frame, and
presence for clients that only speak HTTP.
"""

from __future__ import annotations

import orjson
from pydantic import Field
from starlette.responses import Response

from ...domain.errors import field_error
from ...schema_text import CANONICAL_INT
from ...ws.frames import PresenceOut
from ...ws.protocol import json_schema
from ..api import Api, Call, In, JsonResponse, Out

api = Api()
TAGS = ["chat"]


class PresenceQuery(In):
    user_ids: str = Field(max_length=4000,
                          pattern=r"^\s*(?:[0-9]+\s*)?(?:,\s*(?:[0-9]+\s*)?)*$",
                          description="comma-separated user ids")


class PresenceListOut(Out):
    presence: list[PresenceOut]


@api.route("GET", "/api/v1/ws/schema", summary="JSON Schema of every WebSocket frame",
           tags=TAGS, auth=False, raw_response={"type": "object"}, uses_stores=False)
async def ws_schema(call: Call[None, None]) -> Response:
    return JsonResponse(orjson.dumps(json_schema()))


@api.route("GET", "/api/v1/presence", summary="Presence of friends and conversation peers",
           tags=TAGS, query=PresenceQuery, response=PresenceListOut, errors=(422,))
async def presence(call: Call[None, PresenceQuery]) -> PresenceListOut:
    parts = [x.strip() for x in call.query.user_ids.split(",") if x.strip()]
    if not all(CANONICAL_INT.fullmatch(x) for x in parts):  # int() would take "٥" or "1_0"
        raise field_error("user_ids", "must be comma-separated user ids")
    ids = [int(x) for x in parts][:500]
    fanout = call.services.hub.presence
    return PresenceListOut(presence=await fanout.query(call.user_id, ids) if fanout else [])
