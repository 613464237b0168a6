"""A message's `_id` is its idempotency key: a retry must find the message stored under it,
also one stored before the id was computed the faster way (codec.message_id)."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from nirvana.storage.mongo.codec import _MESSAGE_IDS, message_id


def test_the_id_of_a_send_is_the_uuid5_of_its_sender_and_client_id():
    assert message_id(7, "k-1") == uuid.uuid5(_MESSAGE_IDS, "7:k-1").hex
    assert message_id(7, "k-1") != message_id(8, "k-1") != message_id(7, "k-2")


@given(sender=st.integers(min_value=1, max_value=1 << 62),
       client_id=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=64))
def test_every_key_keeps_the_id_it_was_stored_under(sender, client_id):
    assert message_id(sender, client_id) == uuid.uuid5(_MESSAGE_IDS,
                                                       f"{sender}:{client_id}").hex
