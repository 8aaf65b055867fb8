"""Byte-level walkers for the four container layouts we accept (PNG, JPEG, RIFF/WebP, ISO BMFF).

Why our own walkers instead of asking Pillow: three jobs must happen *around* the decoder,
not inside it. The header check must run before Pillow allocates anything (a 97 KB PNG can
declare 10000x10000); metadata stripping must copy compressed pixel data byte for byte
(re-encoding would be lossy or slow); and C2PA detection looks at chunks Pillow ignores.
Each walker only slices ``bytes``: it never decodes pixels and never allocates more than the
chunk it returns, so running it on hostile input is cheap. Structural damage raises
``MediaError`` with a message naming the format, because a user can fix "truncated PNG".
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from tessera.errors import MediaError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def corrupt(what: str) -> MediaError:
    """Build the one message every structural failure uses, so users see consistent wording."""
    return MediaError(f"the {what} file is truncated or corrupt and cannot be read")


@dataclass(frozen=True, slots=True)
class Chunk:
    """One unit of a container: its type, where it starts/ends, and where its payload lies.

    ``start``/``end`` bracket the whole unit (header, payload, CRC or padding) so a stripper can
    copy it verbatim; ``payload_start``/``payload_end`` bracket the content alone.
    """

    kind: bytes
    start: int
    payload_start: int
    payload_end: int
    end: int

    def payload(self, data: bytes) -> bytes:
        """Return the chunk's content (a copy; chunks we look into are small)."""
        return data[self.payload_start : self.payload_end]


# --- PNG --------------------------------------------------------------------------------------


def iter_png_chunks(data: bytes) -> Iterator[Chunk]:
    """Yield PNG chunks in file order, stopping after IEND (trailing bytes are ignored).

    A file that ends before IEND, or whose chunk length runs past the end, raises. Callers that
    only need the header may stop iterating early (at IDAT) and never see the damage.
    """
    size = len(data)
    pos = len(PNG_SIGNATURE)
    while True:
        if pos + 12 > size:
            raise corrupt("PNG")
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if length > 0x7FFFFFFF or end > size:
            raise corrupt("PNG")
        yield Chunk(kind, pos, pos + 8, pos + 8 + length, end)
        if kind == b"IEND":
            return
        pos = end


# --- JPEG -------------------------------------------------------------------------------------

# Markers without a length field: TEM, RST0-7 (SOI/EOI are handled explicitly).
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
# Inside entropy-coded data 0xFF is followed by 0x00 (stuffing) or RSTn; anything else ends it.
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")

SOF_MARKERS = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)
SOS = 0xDA
EOI = 0xD9


def iter_jpeg_segments(data: bytes) -> Iterator[Chunk]:
    """Yield JPEG marker segments after SOI, ending with EOI (anything after EOI is ignored).

    ``kind`` is the one-byte marker code. For SOS the payload is the scan header and ``end``
    lies after the entropy-coded data, so copying ``data[start:end]`` copies the scan exactly.
    Fill bytes (extra 0xFF before a marker) are skipped: ``start`` points at the last 0xFF.
    A file without EOI is treated as truncated, which is also what Pillow decides.
    """
    size = len(data)
    pos = 2
    while True:
        if pos < size and data[pos] != 0xFF:
            # Like libjpeg, skip stray bytes between segments (some writers pad with zeros).
            pos = data.find(b"\xff", pos)
            pos = size if pos < 0 else pos
        if pos + 2 > size:
            raise corrupt("JPEG")
        while pos + 2 < size and data[pos + 1] == 0xFF:
            pos += 1
        marker = data[pos + 1]
        if marker == EOI:
            yield Chunk(bytes([marker]), pos, pos + 2, pos + 2, pos + 2)
            return
        if marker in _STANDALONE:
            yield Chunk(bytes([marker]), pos, pos + 2, pos + 2, pos + 2)
            pos += 2
            continue
        if marker in (0x00, 0xD8) or pos + 4 > size:
            raise corrupt("JPEG")
        (length,) = struct.unpack_from(">H", data, pos + 2)
        header_end = pos + 2 + length
        if length < 2 or header_end > size:
            raise corrupt("JPEG")
        end = header_end
        if marker == SOS:
            found = _SCAN_END.search(data, header_end)
            if found is None:
                raise corrupt("JPEG")
            end = found.start()
        yield Chunk(bytes([marker]), pos, pos + 4, header_end, end)
        pos = end


# --- RIFF (WebP) ------------------------------------------------------------------------------


def iter_riff_chunks(data: bytes) -> Iterator[Chunk]:
    """Yield the chunks of a RIFF/WEBP file, bounded by the RIFF size (trailing bytes ignored).

    The odd-size padding byte belongs to the chunk (``end`` includes it) so copying
    ``data[start:end]`` keeps the file well formed.
    """
    if len(data) < 12:
        raise corrupt("WebP")
    (riff_size,) = struct.unpack_from("<I", data, 4)
    limit = 8 + riff_size
    if riff_size < 4 or limit > len(data):
        raise corrupt("WebP")
    pos = 12
    while pos < limit:
        if pos + 8 > limit:
            raise corrupt("WebP")
        kind = data[pos : pos + 4]
        (length,) = struct.unpack_from("<I", data, pos + 4)
        payload_end = pos + 8 + length
        if payload_end > limit:
            raise corrupt("WebP")
        end = min(payload_end + (length & 1), limit)
        yield Chunk(kind, pos, pos + 8, payload_end, end)
        pos = end


# --- ISO BMFF (AVIF) --------------------------------------------------------------------------


def iter_boxes(data: bytes, start: int = 0, stop: int | None = None) -> Iterator[Chunk]:
    """Yield ISO BMFF boxes between ``start`` and ``stop`` (64-bit and to-end sizes handled)."""
    limit = len(data) if stop is None else stop
    pos = start
    while pos + 8 <= limit:
        (size32,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4 : pos + 8]
        header = 8
        if size32 == 1:
            if pos + 16 > limit:
                raise corrupt("AVIF")
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size32 == 0:
            size = limit - pos
        else:
            size = size32
        end = pos + size
        if size < header or end > limit:
            raise corrupt("AVIF")
        yield Chunk(kind, pos, pos + header, end, end)
        pos = end


def find_box(data: bytes, kind: bytes, start: int, stop: int) -> Chunk | None:
    """Return the first box of ``kind`` directly inside ``[start, stop)``, or None."""
    for box in iter_boxes(data, start, stop):
        if box.kind == kind:
            return box
    return None
