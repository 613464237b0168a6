"""upgrade.py `build_copies_index` leaves the (message._id) index alone when Beanie's own
comparison (`IndexModelField`, not exported by beanie) judges the built one as declared:
init_beanie then neither drops nor builds it within store_timeout. A Beanie release that
judges otherwise fails here, by name, before a start drops or rebuilds a big index."""

from __future__ import annotations

from beanie.odm.fields import IndexModelField

from nirvana.storage.mongo.documents import COPIES_INDEX

# `index_information()` of chat_events once the index is built, as the store lists it
# (docs/operations.md's build-ahead command makes the same).
BUILT = {"_id_": {"key": [("_id", 1)], "v": 2},
         "message._id_1": {"key": [("message._id", 1)], "sparse": True, "v": 2}}


def test_beanie_judges_the_built_copies_index_equal_to_the_declared_one():
    assert IndexModelField(COPIES_INDEX) in IndexModelField.from_pymongo_index_information(
        BUILT)


def test_beanie_judges_one_built_without_sparse_different():
    plain = {**BUILT, "message._id_1": {"key": [("message._id", 1)], "v": 2}}
    assert IndexModelField(COPIES_INDEX) not in (
        IndexModelField.from_pymongo_index_information(plain))
