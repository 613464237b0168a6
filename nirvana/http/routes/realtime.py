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
                          pattern=r"^ *(?:[0-9]+ *)?(?:, *(?:[0-9]+ *)?)*$",
                          description="comma-separated user ids")


class PresenceListOut(Out):
    presence: list[PresenceOut]


SCHEMA_RESPONSE = {
    "description": "A JSON Schema (2020-12) document: every client command and server event "
                   "under `properties`, their models in `$defs`, and the close codes",
    "content": {"application/json": {"schema": {
        "type": "object",
        "required": ["$schema", "$defs", "properties", "close_codes"],
        "properties": {
            "$schema": {"type": "string"},
            "title": {"type": "string"},
            "$defs": {"type": "object"},
            "properties": {"type": "object",
                           "required": ["client_command", "server_event"]},
            "close_codes": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
    }}},
}


@api.route("GET", "/api/v1/ws/schema", summary="JSON Schema of every WebSocket frame",
           tags=TAGS, auth=False, raw_response=SCHEMA_RESPONSE, uses_stores=False)
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
