"""Which store errors the chat writer asks again after (sends.py `no_answer`): no answer,
or an answer that says to ask again; any other answer refuses the request whole."""

from __future__ import annotations

import pytest
from pymongo.errors import (AutoReconnect, ExecutionTimeout, NetworkTimeout, OperationFailure,
                            ServerSelectionTimeoutError, WTimeoutError)

from nirvana.storage.mongo.sends import no_answer


@pytest.mark.parametrize("exc", [
    NetworkTimeout("no reply in time"), AutoReconnect("connection lost"),
    ServerSelectionTimeoutError("no server"), TimeoutError(), ConnectionResetError(),
    OperationFailure("not primary", 10107, {"errorLabels": ["RetryableWriteError"]}),
    # Answered, but out of time: the store may have written a part before it stopped.
    ExecutionTimeout("operation exceeded time limit", 50),
    WTimeoutError("waiting for replication timed out", 64),
])
def test_no_answer_or_a_retryable_one_is_asked_again(exc):
    assert no_answer(exc)


@pytest.mark.parametrize("exc", [
    OperationFailure("insert refused", 2), ValueError("a bug"),
])
def test_an_answer_that_refuses_the_request_is_not(exc):
    assert not no_answer(exc)
