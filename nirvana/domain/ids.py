"""The ids of stored things: every store holds them as a signed 64-bit integer (PostgreSQL
bigint, MongoDB int64), so a number past that names nothing and is answered "not found",
never handed to a store that would fail on it."""

MAX_ID = (1 << 63) - 1
