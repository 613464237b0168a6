"""Media store adapters: files on local disk, or Cloudinary."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import cloudinary
import cloudinary.exceptions
import cloudinary.uploader
import cloudinary.utils

from ..domain.errors import UnavailableError
from ..domain.media import ImageFormat

# Names we hand out: 24 url-safe random characters and a known extension. Anything else asked
# of /media/ is refused before the file system is touched, so no path can escape the folder.
log = logging.getLogger("nirvana.media")

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{24}\.(jpg|png|webp|gif)$")
PUBLIC_PREFIX = "/media/"


class LocalMediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    async def save(self, data: bytes, image: ImageFormat) -> str:
        name = f"{secrets.token_urlsafe(18)}.{image.extension}"
        await asyncio.to_thread(self._write, name, data)
        return PUBLIC_PREFIX + name

    def _write(self, name: str, data: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / name
        tmp = final.with_name(f".{name}.tmp")
        # Written aside and renamed, so a reader never sees half a file under the real name.
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)

    def find(self, name: str) -> tuple[Path, ImageFormat] | None:
        """The stored file called `name` and its format, or None."""
        match = _NAME_RE.match(name)
        if match is None:
            return None
        image = ImageFormat.from_extension(match.group(1))
        path = self.root / name
        if image is None or not path.is_file():
            return None
        return path, image


def parse_cloudinary_url(url: str) -> dict[str, str]:
    """cloudinary://API_KEY:API_SECRET@CLOUD_NAME -> the SDK's credential options."""
    parts = urlsplit(url)
    if parts.scheme != "cloudinary" or not (parts.username and parts.password and parts.hostname):
        raise ValueError("CLOUDINARY_URL must look like cloudinary://key:secret@cloud_name")
    return {
        "api_key": unquote(parts.username),
        "api_secret": unquote(parts.password),
        # hostname is lower-cased by urlsplit; cloud names are case-sensitive.
        "cloud_name": parts.netloc.rsplit("@", 1)[1],
    }


# Delivered at most 1000 px wide (never upscaled), in the best format and quality for each
# browser. Applied when the image is delivered rather than as an incoming transformation:
# f_auto picks the format per request, which a stored derivative cannot do.
DELIVERY = [{"width": 1000, "crop": "limit", "quality": "auto", "fetch_format": "auto"}]


class CloudinaryMediaStore:
    def __init__(
        self,
        cloudinary_url: str,
        *,
        folder: str = "nirvana",
        upload_prefix: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._options: dict[str, Any] = parse_cloudinary_url(cloudinary_url)
        if upload_prefix is not None:
            self._options["upload_prefix"] = upload_prefix
        self._folder = folder
        self._timeout = timeout

    async def save(self, data: bytes, image: ImageFormat) -> str:
        # The SDK is blocking (urllib3): run it in a thread so the event loop keeps serving.
        result = await asyncio.to_thread(self._upload, data, image)
        return cloudinary.utils.cloudinary_url(
            result["public_id"],
            format=result.get("format", image.extension),
            version=result.get("version"),
            secure=True,
            transformation=DELIVERY,
            cloud_name=self._options["cloud_name"],
        )[0]

    def _upload(self, data: bytes, image: ImageFormat) -> dict[str, Any]:
        try:
            return cloudinary.uploader.upload(
                data,
                folder=self._folder,
                resource_type="image",
                filename=f"upload.{image.extension}",
                use_filename=False,
                unique_filename=True,
                overwrite=False,
                timeout=self._timeout,
                **self._options,
            )
        except cloudinary.exceptions.Error as exc:
            # The SDK's message can echo the request; it is logged, never sent to the client.
            log.warning("Cloudinary upload failed: %s", exc)
            raise UnavailableError("The image store refused or failed the upload.") from exc
