"""The text and integer rules of every request model and WebSocket frame, as pydantic glue.

HTTP request models (`http/api.py` `In`) and client frames (`ws/frames.py` `Frame`)
inherit `ControlFreeText`, so no string reaches a domain service or a store holding a control
character (`domain/text.py`). Tab and line breaks are control characters too, except in the
fields declared `Lines` (multiline prose, and passwords checked against a stored one): the
same declaration gives each field its JSON Schema pattern, so the published rule is the one
enforced. Bodies and frames are validated with `strict=True` (no booleans as numbers, no
numbers as strings); a query's values are all strings, so `non_canonical_ints` checks its
integer fields. (Not a `before` field validator: one hands the inner validator a Python
string, and strict mode then refuses the ISO datetime string that strict JSON accepts.)
"""

from __future__ import annotations

import re
import types
from typing import Annotated, Any, ClassVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, GetJsonSchemaHandler, ValidationInfo, \
    field_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from .domain.text import MULTILINE_PATTERN, SINGLE_LINE_PATTERN, first_control

# A query parameter is text: an integer field takes only optional '-' and ASCII digits
# ("5", never "5.0", " 5", "+5", "5_0").
CANONICAL_INT = re.compile(r"-?[0-9]+")


class _LinesAllowed:
    """`Annotated` metadata: this text may hold tab and line breaks."""

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["pattern"] = MULTILINE_PATTERN
        return schema


# A text field that may hold tab, newline and carriage return; every other one may not.
Lines = Annotated[str, _LinesAllowed()]


def _allows_lines(annotation: Any, metadata: list[Any]) -> bool:
    if any(isinstance(m, _LinesAllowed) for m in metadata):
        return True
    args = get_args(annotation)
    if get_origin(annotation) is Annotated:
        return _allows_lines(args[0], list(annotation.__metadata__))
    return any(_allows_lines(a, []) for a in args)  # a union or a list of Lines


def _control_in(value: Any, multiline: bool) -> str | None:
    if isinstance(value, str):
        bad = first_control(value, multiline=multiline)
        return None if bad is None else f"U+{ord(value[bad]):04X} at {bad}"
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = _control_in(item, multiline)
            if found is not None:
                return f"{found} of item {i}"
    if isinstance(value, dict):
        for key, item in value.items():
            found = _control_in(key, False) or _control_in(item, multiline)
            if found is not None:
                return f"{found} of {key!r}"
    return None


def _takes_int(annotation: Any) -> bool:
    if annotation is int:
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        return any(a is int for a in get_args(annotation))
    return False


def _mark_text(schema: dict[str, Any]) -> None:
    if schema.get("type") == "string" and not {"pattern", "format", "enum", "const"} & set(
            schema):
        schema["pattern"] = SINGLE_LINE_PATTERN
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key, ()):
            _mark_text(option)
    if isinstance(schema.get("items"), dict):
        _mark_text(schema["items"])


def _schema_of_text_fields(schema: dict[str, Any]) -> None:
    for prop in schema.get("properties", {}).values():
        _mark_text(prop)


class _RuledOut:
    """The validation context of input whose raw JSON `controls_ruled_out` cleared."""


CONTROLS_RULED_OUT = _RuledOut()


def controls_ruled_out(raw_json: str) -> bool:
    """True when no string decoded from the JSON text `raw_json` can hold a control
    character, so `ControlFreeText`'s check of each field would find none: a control
    character reaches a decoded string only as itself (`isprintable` is False for every
    one) or as an escape (a backslash). Validate such input with
    `context=CONTROLS_RULED_OUT`; a frame that fails here is checked field by field, as
    before. Frames of plain printable text pass here (the benchmark's, and most chat
    messages from browsers, whose JSON.stringify leaves non-ASCII unescaped); a message
    with a newline, a tab, a quote or a backslash, a client that escapes non-ASCII or `/`,
    or text with a non-printable character such as ZWSP or NBSP takes the check per field,
    which was most of a frame's validation cost (docs/performance.md, "Where the server's
    CPU per send goes at 20,000 deliveries/s, 2026-12-07 day")."""
    return raw_json.isprintable() and "\\" not in raw_json


class ControlFreeText(BaseModel):
    """Text holds no control character, whatever the subclass declares (and its JSON Schema
    says so with a pattern on every free-text field)."""

    model_config = ConfigDict(json_schema_extra=_schema_of_text_fields)
    # The fields declared `Lines`, found once per class.
    multiline_fields: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.multiline_fields = frozenset(
            name for name, field in cls.model_fields.items()
            if _allows_lines(field.annotation, field.metadata))

    @field_validator("*", mode="after")
    @classmethod
    def _no_controls(cls, value: Any, info: ValidationInfo) -> Any:
        if info.context is CONTROLS_RULED_OUT:
            return value
        found = _control_in(value, info.field_name in cls.multiline_fields)
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
