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

from ..domain.errors import UnavailableError
from ..domain.sniffing import CONTENT_TYPES, ContentType, MediaKind

log = logging.getLogger("nirvana.media")

# Names we hand out: 24 url-safe random characters and an extension of CONTENT_TYPES.
# Anything else asked of /media/ is refused before the file system is touched, so no path can
# escape the folder, and a name is always served as the type its extension gives.
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{24}\.([a-z0-9]{1,5})$")
PUBLIC_PREFIX = "/media/"


def issued_name(filename: str) -> str | None:
    """The name of the upload a file of the media directory holds (a partial `.NAME.tmp`
    copy is NAME's), or None for a name this store never writes."""
    if filename.startswith(".") and filename.endswith(".tmp"):
        filename = filename[1:-4]
    return filename if _NAME_RE.match(filename) else None


def aside(path: Path) -> Path:
    """Where a file is written before it is renamed to `path`."""
    return path.with_name(f".{path.name}.tmp")


class LocalMediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def new_url(self, content: ContentType) -> str:
        return f"{PUBLIC_PREFIX}{secrets.token_urlsafe(18)}.{content.extension}"

    async def save(self, data: bytes, content: ContentType, url: str) -> str:
        name = url.removeprefix(PUBLIC_PREFIX)
        if not (url.startswith(PUBLIC_PREFIX) and _NAME_RE.match(name)):
            raise ValueError(f"not a name of this store: {url!r}")
        await asyncio.to_thread(self._write, name, data)
        return url

    def _write(self, name: str, data: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / name
        tmp = aside(final)
        # Written aside and renamed, so a reader never sees half a file under the real name.
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)

    async def delete(self, url: str) -> bool:
        """Remove an upload this store issued (True); a URL of anything else is left alone."""
        name = url.removeprefix(PUBLIC_PREFIX)
        if not (url.startswith(PUBLIC_PREFIX) and _NAME_RE.match(name)):
            return False
        await asyncio.to_thread(self._unlink, self.root / name)
        return True

    @staticmethod
    def _unlink(path: Path) -> None:
        # The copy being written too: a save cut off by a crash leaves it (its pending row's
        # sweep, domain/uploads.py, comes here).
        aside(path).unlink(missing_ok=True)
        path.unlink(missing_ok=True)

    def find(self, name: str) -> tuple[Path, ContentType] | None:
        """The stored file called `name` and its content type, or None."""
        match = _NAME_RE.match(name)
        if match is None:
            return None
        content = CONTENT_TYPES.get(match.group(1))
        path = self.root / name
        if content is None or not path.is_file():
            return None
        return path, content


def _cloudinary_sdk() -> Any:
    """The Cloudinary SDK, imported when a store is made, not with this module: importing it
    reads CLOUDINARY_URL and raises on a malformed one, which Settings refuses in one line
    first (run.py imports this module before it reads the settings)."""
    import cloudinary.exceptions
    import cloudinary.uploader
    import cloudinary.utils
    return cloudinary


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


# Cloudinary keeps audio as a "video" resource (its rule); files as "raw", delivered as they
# are from Cloudinary's own domain, never from ours.
RESOURCE_TYPES = {MediaKind.IMAGE: "image", MediaKind.VIDEO: "video", MediaKind.AUDIO: "video",
                  MediaKind.FILE: "raw"}


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
        self._sdk = _cloudinary_sdk()
        if upload_prefix is not None:
            self._options["upload_prefix"] = upload_prefix
        self._folder = folder
        self._timeout = timeout

    def new_url(self, content: ContentType) -> str:
        # Version 1 stands for any: Cloudinary serves the latest under it, and resource_of
        # reads the public id from it as from the URL the upload answers.
        resource_type = RESOURCE_TYPES[content.kind]
        public_id = f"{self._folder}/{secrets.token_urlsafe(18)}"
        if resource_type == "raw":  # a raw resource's public id keeps its extension
            public_id += f".{content.extension}"
        return self._delivery(public_id, content, resource_type, content.extension, 1)

    async def save(self, data: bytes, content: ContentType, url: str) -> str:
        resource = self.resource_of(url)
        if resource is None:
            raise ValueError(f"not a URL of this store: {url!r}")
        resource_type, public_id = resource
        # The SDK is blocking (urllib3): run it in a thread so the event loop keeps serving.
        result = await asyncio.to_thread(self._upload, data, content, resource_type, public_id)
        if result.get("public_id") != public_id:
            # Stored under another id than its reservation names (an account's folder mode
            # prefixing it?): removed now, loudly, rather than left for no sweep to find.
            log.warning("Cloudinary stored %r as %r", public_id, result.get("public_id"))
            if result.get("public_id"):
                try:
                    await asyncio.to_thread(self._destroy, resource_type, result["public_id"])
                except UnavailableError:
                    # The upload's own error is the one to answer; this one names the stray.
                    log.error("Cloudinary stored %r as %r and would not destroy it",
                              public_id, result["public_id"])
            raise UnavailableError("The media store stored the upload under another name.")
        return self._delivery(result["public_id"], content, resource_type,
                              result.get("format", content.extension), result.get("version"))

    def _delivery(self, public_id: str, content: ContentType, resource_type: str, fmt: str,
                  version: object) -> str:
        if resource_type == "raw":
            # A raw resource's public id carries its extension; no format or transformation.
            return self._sdk.utils.cloudinary_url(
                public_id, resource_type="raw", version=version, secure=True,
                cloud_name=self._options["cloud_name"])[0]
        return self._sdk.utils.cloudinary_url(
            public_id,
            resource_type=resource_type,
            format=fmt,
            version=version,
            secure=True,
            transformation=DELIVERY if content.kind is MediaKind.IMAGE else None,
            cloud_name=self._options["cloud_name"],
        )[0]

    def resource_of(self, url: str) -> tuple[str, str] | None:
        """(resource type, public id) of an upload this store issued, from its delivery URL
        (https://res.cloudinary.com/CLOUD/TYPE/upload/[transformation/]vVERSION/PUBLIC_ID);
        None for any other URL."""
        parts = urlsplit(url)
        if parts.scheme != "https" or parts.hostname != "res.cloudinary.com":
            return None
        segments = parts.path.split("/")
        if len(segments) < 6 or segments[1] != self._options["cloud_name"] or segments[3] != "upload":
            return None
        resource_type, rest = segments[2], segments[4:]
        versions = [i for i, segment in enumerate(rest) if re.fullmatch(r"v\d+", segment)]
        if resource_type not in ("image", "video", "raw") or not versions:
            return None
        public_id = unquote("/".join(rest[versions[0] + 1:]))
        if not public_id.startswith(self._folder + "/"):
            return None
        if resource_type != "raw":  # a raw resource's public id keeps its extension
            public_id = public_id.rpartition(".")[0] or public_id
        return resource_type, public_id

    async def delete(self, url: str) -> bool:
        resource = self.resource_of(url)
        if resource is None:
            return False
        await asyncio.to_thread(self._destroy, *resource)
        return True

    def _destroy(self, resource_type: str, public_id: str) -> None:
        try:
            result = self._sdk.uploader.destroy(public_id, resource_type=resource_type,
                                                 type="upload", invalidate=True,
                                                 timeout=self._timeout, **self._options)
        except self._sdk.exceptions.Error as exc:
            log.warning("Cloudinary delete failed: %s", exc)
            raise UnavailableError("The media store refused or failed the deletion.") from exc
        if result.get("result") not in ("ok", "not found"):  # "not found": gone already
            log.warning("Cloudinary delete answered %r", result)
            raise UnavailableError("The media store refused or failed the deletion.")

    def _upload(self, data: bytes, content: ContentType, resource_type: str,
                public_id: str) -> dict[str, Any]:
        try:
            return self._sdk.uploader.upload(
                data,
                # The whole id, chosen before: a crash's pending row names it. The folder only
                # files it in the Media Library (dynamic folder mode; fixed mode ignores it).
                public_id=public_id,
                asset_folder=self._folder,
                resource_type=resource_type,
                filename=f"upload.{content.extension}",
                overwrite=False,
                timeout=self._timeout,
                **self._options,
            )
        except self._sdk.exceptions.Error as exc:
            # The SDK's message can echo the request; it is logged, never sent to the client.
            log.warning("Cloudinary upload failed: %s", exc)
            raise UnavailableError("The media store refused or failed the upload.") from exc
