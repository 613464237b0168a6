"""Every server frame a test client receives, checked against the JSON Schema the server
serves at GET /api/v1/ws/schema: the contract as written, tested by every e2e test."""

from __future__ import annotations

import json
from typing import Any

import httpx
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

_validators: dict[str, "ServerFrames"] = {}


class ServerFrames:
    def __init__(self, schema: dict[str, Any]) -> None:
        events = schema["properties"]["server_event"]
        self._validator = Draft202012Validator({"$defs": schema["$defs"], **events})

    def check(self, frame: Any) -> None:
        """Raises AssertionError naming the first way `frame` breaks the schema."""
        error = best_match(self._validator.iter_errors(frame))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(frame)"
            raise AssertionError(f"server frame breaks the served schema at {where}: "
                                 f"{error.message}\n{json.dumps(frame)[:2000]}")


async def served_frames(ws_url: str) -> ServerFrames:
    """The validator of the server behind `ws_url` (ws://host:port/ws), fetched once."""
    base = "http" + ws_url.split("?", 1)[0].removesuffix("/ws")[2:]
    found = _validators.get(base)
    if found is None:
        async with httpx.AsyncClient(base_url=base) as http:
            r = await http.get("/api/v1/ws/schema")
            r.raise_for_status()
            found = _validators[base] = ServerFrames(r.json())
    return found
