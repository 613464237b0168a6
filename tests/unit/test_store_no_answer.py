"""Which store errors the chat writer asks again after (sends.py `no_answer`): no answer,
or an answer that says to ask again; any other answer refuses the request whole."""

from __future__ import annotations

import pytest
from pymongo.errors import (AutoReconnect, BulkWriteError, ExecutionTimeout, NetworkTimeout,
                            OperationFailure, ServerSelectionTimeoutError, WTimeoutError)

from nirvana.storage.mongo.message_inserts import _insert_alone, no_answer


def _bulk(write_errors=(), concern=None) -> BulkWriteError:
    return BulkWriteError({"writeErrors": list(write_errors),
                           "writeConcernErrors": [concern] if concern else [],
                           "nInserted": 0, "nUpserted": 0, "nMatched": 0, "nModified": 0,
                           "nRemoved": 0, "upserted": []})


@pytest.mark.parametrize("exc", [
    NetworkTimeout("no reply in time"), AutoReconnect("connection lost"),
    ServerSelectionTimeoutError("no server"), TimeoutError(), ConnectionResetError(),
    OperationFailure("not primary", 10107, {"errorLabels": ["RetryableWriteError"]}),
    # Answered, but out of time: the store may have written a part before it stopped.
    ExecutionTimeout("operation exceeded time limit", 50),
    WTimeoutError("waiting for replication timed out", 64),
    # MongoDB wrote it on the primary, and could not say it is kept (a failover may lose
    # it): not durable, so not acked yet.
    _bulk(concern={"code": 64, "errmsg": "waiting for replication timed out"}),
    _bulk(concern={"code": 189, "errmsg": "primary stepped down"}),
    _bulk([{"index": 0, "code": 11000}], concern={"code": 91, "errmsg": "shutting down"}),
])
def test_no_answer_or_a_retryable_one_is_asked_again(exc):
    assert no_answer(exc)


@pytest.mark.parametrize("exc", [
    OperationFailure("insert refused", 2), ValueError("a bug"),
    _bulk([{"index": 0, "code": 11000, "errmsg": "duplicate key"}]),
])
def test_an_answer_that_refuses_the_request_is_not(exc):
    assert not no_answer(exc)


class _Database:
    name = "nirvana"

    def __init__(self, reply):
        self.reply = reply

    async def command(self, body):
        return self.reply


class _Messages:
    name = "chat_messages"

    def __init__(self, reply):
        self.database = _Database(reply)


async def test_a_single_insert_whose_write_concern_failed_is_not_taken_as_written():
    """pymongo's `command` does not raise on a `writeConcernError` (its `insert_many`
    does): the single-document insert must, or a write MongoDB may lose would be acked."""
    concern = {"code": 64, "errmsg": "waiting for replication timed out"}
    with pytest.raises(BulkWriteError) as raised:
        await _insert_alone(_Messages({"ok": 1, "n": 1, "writeConcernError": concern}),
                            {"_id": "m"})
    assert raised.value.details["writeConcernErrors"] == [concern]
    assert no_answer(raised.value)
    await _insert_alone(_Messages({"ok": 1, "n": 1}), {"_id": "m"})  # written and kept
