"""The text and integer rules of every request model and WebSocket frame, as pydantic glue.

HTTP request models (`http/api.py` `In`) and client frames (`ws/frame_base.py` `Frame`)
inherit `ControlFreeText`, so no string reaches a domain service or a store holding a control
character (`domain/text.py`; tab and line breaks pass here and are refused per field by the
domain). Bodies and frames are validated with `strict=True` (no booleans as numbers, no
numbers as strings); a query's values are all strings, so `non_canonical_ints` checks its
integer fields. (Not a `before` field validator: one hands the inner validator a Python
string, and strict mode then refuses the ISO datetime string that strict JSON accepts.)
"""

from __future__ import annotations

import re
import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticCustomError

from .domain.text import first_control

# A query parameter is text: an integer field takes only optional '-' and ASCII digits
# ("5", never "5.0", " 5", "+5", "5_0").
CANONICAL_INT = re.compile(r"-?[0-9]+")


def _control_in(value: Any) -> str | None:
    if isinstance(value, str):
        bad = first_control(value, multiline=True)
        return None if bad is None else f"U+{ord(value[bad]):04X} at {bad}"
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = _control_in(item)
            if found is not None:
                return f"{found} of item {i}"
    if isinstance(value, dict):
        for key, item in value.items():
            found = _control_in(key) or _control_in(item)
            if found is not None:
                return f"{found} of {key!r}"
    return None


def _takes_int(annotation: Any) -> bool:
    if annotation is int:
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        return any(a is int for a in get_args(annotation))
    return False


# The same rule for a client reading the JSON Schema (ECMA 262 regex): no control
# character but tab, newline and carriage return.
NO_CONTROLS = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"


def _mark_text(schema: dict[str, Any]) -> None:
    if schema.get("type") == "string" and not {"pattern", "format", "enum", "const"} & set(
            schema):
        schema["pattern"] = NO_CONTROLS
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key, ()):
            _mark_text(option)
    if isinstance(schema.get("items"), dict):
        _mark_text(schema["items"])


def _schema_of_text_fields(schema: dict[str, Any]) -> None:
    for prop in schema.get("properties", {}).values():
        _mark_text(prop)


class ControlFreeText(BaseModel):
    """Text holds no control character, whatever the subclass declares (and its JSON Schema
    says so with a pattern on every free-text field)."""

    model_config = ConfigDict(json_schema_extra=_schema_of_text_fields)

    @field_validator("*", mode="after")
    @classmethod
    def _no_controls(cls, value: Any) -> Any:
        found = _control_in(value)
        if found is not None:
            raise PydanticCustomError(
                "invalid_character", "must not contain control characters ({where})",
                {"where": found})
        return value


def non_canonical_ints(model: type[BaseModel], params: dict[str, str]) -> list[str]:
    """The query parameters of `model`'s integer fields whose value is not plain digits."""
    bad = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        value = params.get(key)
        if value is not None and _takes_int(field.annotation) \
                and not CANONICAL_INT.fullmatch(value):
            bad.append(key)
    return bad
