"""Static files under /static/: read once at start, served from memory.

A template asks `static_url("css/site.css")` and gets `/static/css/site.<hash>.css`, whose
content can never change under that name, so browsers keep it for a year without asking
again. The plain name is served too (for hand-written links), validated by its ETag.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from importlib import resources
from pathlib import PurePosixPath

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".svg": "image/svg+xml", ".ico": "image/x-icon", ".png": "image/png",
         ".webmanifest": "application/manifest+json", ".txt": "text/plain; charset=utf-8"}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    digest: str  # the first hex digits of its SHA-256

    @property
    def etag(self) -> str:
        return f'"{self.digest}"'


def hashed_name(name: str, digest: str) -> str:
    path = PurePosixPath(name)
    return str(path.with_name(f"{path.stem}.{digest}{path.suffix}"))


class StaticAssets:
    """The files of a package directory, by name and by hashed name."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self._by_name: dict[str, Asset] = {}
        self._by_hashed: dict[str, Asset] = {}
        self._urls: dict[str, str] = {}
        for name, body in files.items():
            suffix = PurePosixPath(name).suffix
            media_type = TYPES.get(suffix) or mimetypes.guess_type(name)[0] or \
                "application/octet-stream"
            asset = Asset(body, media_type, hashlib.sha256(body).hexdigest()[:12])
            self._by_name[name] = asset
            hashed = hashed_name(name, asset.digest)
            self._by_hashed[hashed] = asset
            self._urls[name] = f"/static/{hashed}"

    @classmethod
    def from_package(cls, package: str = "nirvana.web", folder: str = "static") -> "StaticAssets":
        root = resources.files(package).joinpath(folder)
        files: dict[str, bytes] = {}

        def walk(node, prefix: str) -> None:
            for child in node.iterdir():
                name = f"{prefix}{child.name}"
                if child.is_dir():
                    walk(child, name + "/")
                elif not child.name.startswith("."):
                    files[name] = child.read_bytes()

        walk(root, "")
        return cls(files)

    def url(self, name: str) -> str:
        """The immutable URL of a file; a name that does not exist fails the render."""
        try:
            return self._urls[name]
        except KeyError:
            raise LookupError(f"no static file {name!r} in nirvana/web/static") from None

    def names(self) -> list[str]:
        return sorted(self._by_name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        name = request.path_params.get("path", "")
        asset = self._by_hashed.get(name)
        cache = IMMUTABLE
        if asset is None:
            asset = self._by_name.get(name)
            cache = REVALIDATE
        if asset is None:
            raise HTTPException(404)
        headers = {"Cache-Control": cache, "ETag": asset.etag,
                   "X-Content-Type-Options": "nosniff"}
        if request.headers.get("if-none-match") == asset.etag:
            response = Response(status_code=304, headers=headers)
        elif request.method == "HEAD":
            response = Response(status_code=200, headers={**headers,
                                "Content-Length": str(len(asset.body))},
                                media_type=asset.media_type)
        else:
            response = Response(asset.body, media_type=asset.media_type, headers=headers)
        await response(scope, receive, send)
