"""What a person does in the web client, as Playwright steps shared by the browser tests."""

from __future__ import annotations

import itertools
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

from tests.support.http import PASSWORD

_counter = itertools.count(1)


async def sign_up(page, name: str | None = None, *, email: str | None = None,
                  password: str = PASSWORD) -> dict:
    n = next(_counter)
    person = {"name": name or f"Reader {n}", "email": email or f"reader{n}@example.com",
              "password": password}
    await page.goto("/signup")
    await page.get_by_label("Name", exact=True).fill(person["name"])
    await page.get_by_label("Email").fill(person["email"])
    await page.get_by_label("Password", exact=True).fill(password)
    await page.get_by_role("button", name="Sign up").click()
    await page.wait_for_url("**/")
    return person


async def sign_in(page, email: str, password: str = PASSWORD) -> None:
    await page.goto("/signin")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password", exact=True).fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def sign_out(page) -> None:
    # The header's button: the settings page has "Sign out" buttons of its own (sessions).
    await page.get_by_role("banner").get_by_role("button", name="Sign out").click()
    await page.wait_for_url("**/")


def mail_text(path: Path) -> str:
    message = message_from_bytes(path.read_bytes(), policy=default_policy)
    return message.get_body(preferencelist=("plain",)).get_content()


def link_in(text: str, prefix: str) -> str:
    for word in text.split():
        if word.startswith(prefix):
            return word
    raise AssertionError(f"no link starting with {prefix} in:\n{text}")


async def make_user(services, name: str, *, email: str | None = None):
    """A user made through the domain (for tests about someone else's pages): the Session."""
    n = next(_counter)
    return await services.accounts.sign_up(email or f"made{n}@example.com", None, name,
                                           PASSWORD)


async def make_blog(services, author_id: int, title: str, body: str = "Some words.", *,
                    tags: tuple[str, ...] = (), place: tuple[str, str] | None = None,
                    summary: str = "", draft: bool = False, header_image: str | None = None):
    from nirvana.web import domain

    fields = domain.BlogFields(
        title=title, body=body, summary=summary, header_image=header_image, images=(),
        tags=tags, place=domain.Place(*place) if place else None,
        status=domain.BlogStatus.DRAFT if draft else domain.BlogStatus.PUBLISHED)
    return await services.blogs.create(author_id, fields)


def picture_png(width: int, height: int, hue: int = 0) -> bytes:
    """A soft two-colour gradient, so screenshots show a picture rather than a flat block."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    rows = []
    for y in range(height):
        row = bytearray(b"\x00")
        for x in range(width):
            t = (x / max(width - 1, 1) + y / max(height - 1, 1)) / 2
            row += bytes((min(255, 60 + hue + int(120 * t)), 140 + int(60 * t),
                          200 - int(60 * t)))
        rows.append(bytes(row))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"".join(rows)))
            + chunk(b"IEND", b""))


async def signed_in_devices(page) -> list[str]:
    """The devices listed under "Where you are signed in" on /settings, in their order."""
    await page.goto("/settings")
    return await page.locator("li.session strong").all_inner_texts()
