"""The WebSocket transport: uvicorn's sans-I/O protocol, plus one ASGI scope extension.

`DirectSendProtocol` adds `scope["extensions"]["nirvana.direct_send"]`: a plain function
that frames and writes a text frame at once, or answers False when it cannot without
waiting (not accepted yet, closing, or the peer reads slowly and the transport paused
writing). The hub uses it to deliver a frame to an idle socket without waking that socket's
sender task: the task switch per delivered frame was most of what fan-out cost above the
`websockets.broadcast()` floor (which writes the same way). Everything else, flow control
included, is uvicorn's: when the transport pauses writing, frames queue in the
`Connection` and the sender task writes them once the peer reads again.

Under another server (no extension) every frame goes through the sender task.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

DIRECT_SEND = "nirvana.direct_send"


class DirectSendProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # absent when the upgrade was refused
        if scope is not None:
            scope["extensions"][DIRECT_SEND] = self.send_now

    def send_now(self, text: str) -> bool:
        """Write `text` as one frame now; False when the caller must queue it instead."""
        if (not self.handshake_complete or self.close_sent or self.disconnected
                or not self.writable.is_set() or self.transport.is_closing()):
            return False
        try:
            self.conn.send_text(text.encode())
        except InvalidState:
            return False
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True
