"""The 1013 close reason: what failed, within the 123 bytes a close frame carries."""

from __future__ import annotations

from nirvana.domain.errors import UnavailableError, WriterUnreachableError
from nirvana.ws.close_codes import WRITER_UNREACHABLE_REASON
from nirvana.ws.endpoint import unavailable_reason


def test_the_reason_names_what_failed():
    reason = unavailable_reason(UnavailableError("The chat writer is not answering; try later."))
    assert reason == "The chat writer is not answering; reconnect later"


def test_the_writer_out_of_reach_gets_the_fixed_reason_whatever_its_message_says():
    # Clients key their retry pace on this reason (docs/protocol.md, Close codes).
    reason = unavailable_reason(WriterUnreachableError("Kein Schreiber erreichbar; später."))
    assert reason == WRITER_UNREACHABLE_REASON
    assert reason.startswith("The chat writer cannot be reached")


def test_a_long_non_ascii_reason_is_cut_at_123_bytes_between_characters():
    said = "Der Speicher »Zürich-Ölhafen« antwortet nicht " * 5  # ü, Ö, », « take 2 bytes
    reason = unavailable_reason(UnavailableError(said))
    encoded = reason.encode()
    assert 123 - 3 <= len(encoded) <= 123
    assert said.startswith(reason)  # whole characters: no half of one, no replacement
