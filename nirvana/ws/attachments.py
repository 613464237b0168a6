"""Attachments of a send (WebSocket frame or HTTP body) → the domain's `Attachment`.

One conversion, so a file sent over either edge is stored the same way.
"""

from __future__ import annotations

from typing import Iterable

from ..domain.chat.entities import Attachment, MessageKind
from .commands import AttachmentIn


def attachments_of(items: Iterable[AttachmentIn]) -> list[Attachment]:
    return [Attachment(a.url, MessageKind(a.kind), a.name, a.size) for a in items]
