"""Small files of each upload kind, built in code: their container signatures are real, their
streams are not (the server sniffs containers, it does not decode them)."""

from __future__ import annotations

import io
import struct
import wave


def wav(frames: int = 800) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * frames)
    return out.getvalue()


def mp3() -> bytes:
    return b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" + b"\x00" * 400


def mp4(size: int = 64) -> bytes:
    ftyp = struct.pack(">I4s4sI", 24, b"ftyp", b"isom", 512) + b"isomiso2"
    mdat = struct.pack(">I4s", 8 + size, b"mdat") + b"\x00" * size
    return ftyp + mdat


def webm() -> bytes:
    return (b"\x1aE\xdf\xa3\x9fB\x86\x81\x01B\xf7\x81\x01B\xf2\x81\x04B\xf3\x81\x08"
            b"B\x82\x84webmB\x87\x81\x04B\x85\x81\x02" + b"\x00" * 64)


def pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


HTML = b"<!doctype html><html><script>parent.pwned = 1</script></html>"
