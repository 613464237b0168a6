"""The Idempotency-Key header read from a request: quoted or bare, and a fingerprint that
a later deploy's new optional field leaves alone."""

from __future__ import annotations

import json
import re

import pytest
from pydantic import Field
from starlette.requests import Request

from nirvana.domain.errors import BadRequestError
from nirvana.http.idempotency import PARAMETER, key_of
from nirvana.http.schemas.blogs import BlogIn


class BlogInLater(BlogIn):
    """BlogIn as a later release might have it: one more optional field."""

    pinned: bool = Field(default=False)


def request(key: str) -> Request:
    return Request({"type": "http", "method": "POST", "path": "/api/v1/blog",
                    "headers": [(b"idempotency-key", key.encode())], "path_params": {}})


def test_a_retry_straddling_a_deploy_that_adds_a_field_has_the_same_fingerprint():
    sent = json.dumps({"title": "T", "body": "B"})
    before = key_of(request("k"), "POST", "/api/v1/blog", BlogIn.model_validate_json(sent))
    after = key_of(request("k"), "POST", "/api/v1/blog", BlogInLater.model_validate_json(sent))
    assert before == after


def test_a_quoted_key_is_stored_bare():
    body = BlogIn(title="T", body="B")
    assert key_of(request('"k-1"'), "POST", "/api/v1/blog", body).key == "k-1"


@pytest.mark.parametrize("value", ['k', '"k"', '"k', 'k"', '""', '"', '""k""', 'k k'])
def test_the_openapi_pattern_accepts_what_the_server_accepts(value):
    body = BlogIn(title="T", body="B")
    try:
        key_of(request(value), "POST", "/api/v1/blog", body)
        accepted = True
    except BadRequestError:
        accepted = False
    assert bool(re.fullmatch(PARAMETER["schema"]["pattern"], value)) == accepted
