"""An upload keeps the name its client sent (the multipart part's filename), cleaned: the
upload's answer and GET /api/v1/media give it as `original_name`, and Your files shows it,
escaped, over the storage name, which stays the random one."""

from __future__ import annotations

import re

from tests.support.http import bearer, sign_up
from tests.support.images import png
from tests.support.media_files import pdf
from tests.support.servers import TEST_ORIGIN

BOUNDARY = b"nirvana-test-boundary"
RTL_OVERRIDE = "invoice\u202egnp.exe"
# Sent as raw UTF-8 bytes, as browsers do; each with the name it is kept under.
SENT_AND_KEPT = [
    ("../../x", "x"),
    ("<img src=x onerror=alert(1)>.pdf", "<img src=x onerror=alert(1)>.pdf"),
    ("n" * 300 + ".pdf", "n" * 196 + ".pdf"),
    (RTL_OVERRIDE, "invoicegnp.exe"),
    ("", None),
    ("r\u00e9sum\u00e9\tfinal.pdf", "r\u00e9sum\u00e9 final.pdf"),
    # Browsers send `"`, CR and LF in a file name as %22, %0D and %0A, and `%` as it is.
    ("my %22best%22.txt", 'my "best".txt'),
    ("two%0D%0Alines.txt", "two lines.txt"),
    ("100%25 %0d.txt", "100%25 %0d.txt"),
    # Characters, not bytes nor UTF-16 units, are counted, in Python and in PostgreSQL.
    ("\u00e9" * 150 + "\U0001f600" * 100 + ".pdf", "\u00e9" * 150 + "\U0001f600" * 46 + ".pdf"),
]


def multipart(filename: str | None, data: bytes) -> tuple[bytes, dict]:
    disposition = b'form-data; name="file"'
    if filename is not None:
        disposition += b'; filename="' + filename.encode() + b'"'
    body = (b"--" + BOUNDARY + b"\r\nContent-Disposition: " + disposition +
            b"\r\nContent-Type: application/octet-stream\r\n\r\n" + data +
            b"\r\n--" + BOUNDARY + b"--\r\n")
    return body, {"Content-Type": "multipart/form-data; boundary=" + BOUNDARY.decode()}


async def send(client, session, filename: str | None,
               route: str = "/api/v1/media/upload") -> dict:
    body, headers = multipart(filename, pdf())
    r = await client.post(route, content=body, headers={**headers, **bearer(session)})
    assert r.status_code == 201, r.text
    return r.json()


async def test_the_sent_name_is_kept_cleaned_and_listed(client):
    ann = await sign_up(client)
    answers = [await send(client, ann, sent) for sent, _ in SENT_AND_KEPT]
    assert [a["original_name"] for a in answers] == [kept for _, kept in SENT_AND_KEPT]
    without = await send(client, ann, None)  # a part with no filename at all
    assert without["original_name"] is None
    for a in answers:  # the storage name stays the random one
        assert re.fullmatch(r"[A-Za-z0-9_-]{20,}\.pdf", a["name"]), a["name"]

    r = await client.get("/api/v1/media", headers=bearer(ann), params={"limit": 50})
    listed = {i["name"]: i["original_name"] for i in r.json()["items"]}
    assert listed == {**{a["name"]: kept for a, (_, kept) in zip(answers, SENT_AND_KEPT)},
                      without["name"]: None}


async def test_your_files_shows_the_name_escaped_over_the_storage_name(client):
    ann = await sign_up(client)
    hostile = await send(client, ann, "<img src=x onerror=alert(1)>.pdf")
    unnamed = await send(client, ann, None)
    client.cookies.set("jwt", ann["jwt"])
    for page in ("/files", f"/people/{ann['user']['id']}"):
        html = (await client.get(page)).text
        assert "<img src=x" not in html
        cell = re.search(rf'<td class="file-name"><a href="{hostile["url"]}\?name=[^"<>]+" '
                         rf'title="([^"]*)">([^<]*)</a><small class="storage-name">'
                         rf'{hostile["name"]}</small></td>', html)
        assert cell is not None, html
        shown = "&lt;img src=x onerror=alert(1)&gt;.pdf"
        assert cell.groups() == (shown, shown)
        assert f'aria-label="Delete {shown}"' in html
        # Without a name, the storage name is the name, shown once.
        assert re.search(rf'<a href="{unnamed["url"]}" title="{unnamed["name"]}">'
                         rf'{unnamed["name"]}</a></td>', html)


async def test_an_image_upload_keeps_its_name_too(client):
    ann = await sign_up(client)
    body, headers = multipart("holiday.png", png(4, 4))
    r = await client.post("/api/v1/image/upload", content=body,
                          headers={**headers, **bearer(ann)})
    assert r.status_code == 201, r.text
    items = (await client.get("/api/v1/media", headers=bearer(ann))).json()["items"]
    assert [i["original_name"] for i in items] == ["holiday.png"]


async def test_openapi_declares_the_original_name(client):
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    for model in ("MediaOut", "StoredMediaOut"):
        field = schemas[model]["properties"]["original_name"]
        assert {"type": "null"} in field["anyOf"], field
        assert "original_name" in schemas[model]["required"]


async def test_a_part_header_over_2_kib_is_refused_before_it_is_read(client):
    ann = await sign_up(client)
    body, headers = multipart("n" * 3000 + ".pdf", pdf())
    r = await client.post("/api/v1/media/upload", content=body,
                          headers={**headers, **bearer(ann)})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == {"code": "bad_request",
                                 "message": "A multipart part header is over 2048 bytes."}
    assert (await client.get("/api/v1/media", headers=bearer(ann))).json()["items"] == []


async def test_a_profile_picture_set_by_the_settings_form_keeps_its_name(client):
    ann = await sign_up(client)
    client.cookies.set("jwt", ann["jwt"])
    r = await client.post("/settings/avatar", headers={"Origin": TEST_ORIGIN},
                          files={"avatar": ("me at the sea.png", png(4, 4), "image/png")})
    assert r.status_code == 303, r.text
    items = (await client.get("/api/v1/media", headers=bearer(ann))).json()["items"]
    assert [i["original_name"] for i in items] == ["me at the sea.png"]


async def test_your_files_downloads_a_file_under_its_original_name(client):
    ann = await sign_up(client)
    sent = await send(client, ann, "notes & plans.pdf")
    unnamed = await send(client, ann, None)
    client.cookies.set("jwt", ann["jwt"])
    html = (await client.get("/files")).text
    assert f'href="{sent["url"]}?name=notes%20%26%20plans.pdf"' in html
    assert f'href="{unnamed["url"]}"' in html
    r = await client.get(f'{sent["url"]}?name=notes%20%26%20plans.pdf')
    assert r.status_code == 200
    assert "notes &amp; plans.pdf" not in r.headers["content-disposition"]
    assert "plans.pdf" in r.headers["content-disposition"]
