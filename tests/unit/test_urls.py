"""One check for every link a user gives: profiles, blogs, chat attachments, group avatars."""

from __future__ import annotations

import pytest

from nirvana.domain.errors import InvalidInputError
from nirvana.domain.urls import validate_url


@pytest.mark.parametrize("url", ["https://cdn.example/a.png", "http://x", "/media/ab.png"])
def test_http_urls_and_media_paths_are_accepted_everywhere(url):
    assert validate_url(url, "f") == url
    assert validate_url(url, "f", local="/") == url


@pytest.mark.parametrize("url", ["/a.png", "/files/x"])
def test_other_paths_are_accepted_only_where_any_path_is(url):
    assert validate_url(url, "f", local="/") == url
    with pytest.raises(InvalidInputError):
        validate_url(url, "f")


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "data:image/png;base64,AA", "ftp://x/y", "https://", "http:///x",
    "//evil.example/a.png", "https://cdn.example/a b.png", "/media/a\nb.png", "media/a.png",
    "", "https://x/" + "a" * 2048,
])
def test_anything_else_is_refused_with_the_field_named(url):
    for local in ("/media/", "/"):
        with pytest.raises(InvalidInputError) as caught:
            validate_url(url, "avatar", local=local)
        assert caught.value.details[0]["field"] == "avatar"


@pytest.mark.parametrize("url", ["/media/../../etc/passwd", "/media/a/b.png",
                                 "/media/%2e%2e/x.png", "/media/", "/media/.png"])
def test_media_paths_must_be_a_name_the_upload_route_hands_out(url):
    with pytest.raises(InvalidInputError) as caught:
        validate_url(url, "image")
    assert caught.value.details[0]["code"] == "invalid_url"
