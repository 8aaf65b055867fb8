"""Format sniffing and limit checks from the first bytes, before any decoder runs.

The order matters for safety: byte size first (free), then the format from magic numbers
(never a filename or a client-declared type), then width/height/frame count parsed by hand
from the header. Only when all of that passes does Pillow see the bytes. Parsing the header
ourselves means a 10000x10000 "bomb" is refused in microseconds, Pillow's own
DecompressionBombWarning can never fire (we also cap at Pillow's threshold), and an
animation with thousands of frames is refused by counting container entries up to the limit
instead of decoding frames.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from PIL import Image

from media.containers import (
    PNG_SIGNATURE,
    SOF_MARKERS,
    corrupt,
    find_box,
    iter_boxes,
    iter_jpeg_segments,
    iter_png_chunks,
    iter_riff_chunks,
)
from media.models import MediaLimits
from tessera.errors import MediaError

ACCEPTED = "PNG, JPEG, WebP, AVIF or a still GIF"
FORMAT_NAMES = {"png": "PNG", "jpeg": "JPEG", "gif": "GIF", "webp": "WebP", "avif": "AVIF"}
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})


@dataclass(frozen=True, slots=True)
class Header:
    """What the header declares. ``frames`` is exact for PNG, counted up to a cap otherwise."""

    format: str
    width: int
    height: int
    frames: int


def _ftyp_brands(data: bytes) -> list[bytes]:
    """Return the major and compatible brands of a leading ``ftyp`` box, or [] if absent."""
    if len(data) < 16 or data[4:8] != b"ftyp":
        return []
    (size,) = struct.unpack_from(">I", data, 0)
    if size < 16 or size > min(len(data), 4096):
        return []
    return [data[8:12]] + [data[i : i + 4] for i in range(16, size - 3, 4)]


def sniff_format(data: bytes) -> str | None:
    """Name the image format from magic bytes alone ("png", "jpeg", ...), or None."""
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if _AVIF_BRANDS.intersection(_ftyp_brands(data)):
        return "avif"
    return None


def describe_unknown(data: bytes) -> str:
    """Guess what a refused upload is, so the error tells the user something actionable."""
    head = data[:1024]
    binary = {
        b"%PDF": "a PDF document",
        b"BM": "a BMP image",
        b"II*\x00": "a TIFF image",
        b"MM\x00*": "a TIFF image",
        b"8BPS": "a Photoshop document",
        b"\xff\x0a": "a JPEG XL image",
        b"\x00\x00\x00\x0cJXL ": "a JPEG XL image",
        b"PK\x03\x04": "a ZIP archive",
        b"\x1f\x8b": "a gzip archive",
        b"RIFF": "a RIFF audio/video file, not WebP",
        b"\x00\x00\x01\x00": "an icon file",
    }
    for magic, name in binary.items():
        if head.startswith(magic):
            return name
    brands = _ftyp_brands(data)
    if _HEIF_BRANDS.intersection(brands):
        return "a HEIC/HEIF image (convert it to JPEG, PNG, WebP or AVIF first)"
    if brands:
        return "a video or other ISO media file"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<svg" in text:
        return "an SVG drawing (vector images are not accepted)"
    if text.startswith((b"<!doctype html", b"<html")) or b"<body" in text:
        return "an HTML document"
    if text.startswith(b"<?xml"):
        return "an XML document"
    try:
        sample = head.decode("utf-8")
    except UnicodeDecodeError:
        return "unrecognised binary data"
    if all(ch.isprintable() or ch in "\r\n\t" for ch in sample):
        return "a text file"
    return "unrecognised binary data"


# --- per-format header parsers ------------------------------------------------------------------


def _png_header(data: bytes) -> Header:
    """IHDR gives the size; an ``acTL`` chunk before IDAT makes it an APNG with N frames."""
    chunks = iter_png_chunks(data)
    ihdr = next(chunks)
    if ihdr.kind != b"IHDR" or ihdr.payload_end - ihdr.payload_start != 13:
        raise corrupt("PNG")
    width, height = struct.unpack_from(">II", data, ihdr.payload_start)
    frames = 1
    for chunk in chunks:
        if chunk.kind == b"acTL" and chunk.payload_end - chunk.payload_start >= 4:
            (frames,) = struct.unpack_from(">I", data, chunk.payload_start)
        elif chunk.kind == b"IDAT":
            break
    return Header("png", width, height, max(frames, 1))


def _skip_gif_sub_blocks(data: bytes, pos: int) -> int:
    """Return the position after a chain of GIF data sub-blocks (or len(data) if cut short)."""
    size = len(data)
    while pos < size:
        length = data[pos]
        pos += 1
        if length == 0:
            return pos
        pos += length
    return size


def _gif_header(data: bytes, frame_cap: int) -> Header:
    """Walk GIF blocks (skipping LZW data, never decoding) and count image descriptors.

    Pillow grows the canvas when the first frame lies outside the logical screen, so the
    size we check is the union of both.
    """
    if len(data) < 13:
        raise corrupt("GIF")
    width, height, flags = struct.unpack_from("<HHB", data, 6)
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    frames = 0
    while frames < frame_cap and pos < len(data):
        block = data[pos]
        if block == 0x3B:
            break
        if block == 0x21:
            pos = _skip_gif_sub_blocks(data, pos + 2)
        elif block == 0x2C:
            if pos + 10 > len(data):
                break
            left, top, w, h, local = struct.unpack_from("<HHHHB", data, pos + 1)
            if frames == 0:
                width, height = max(width, left + w), max(height, top + h)
            frames += 1
            pos += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0)
            pos = _skip_gif_sub_blocks(data, pos + 1)
        else:
            break
    if frames == 0:
        raise corrupt("GIF")
    return Header("gif", width, height, frames)


def _webp_header(data: bytes, frame_cap: int) -> Header:
    """Read the size from VP8X/VP8/VP8L; count ANMF chunks (up to the cap) for animations."""
    chunks = iter_riff_chunks(data)
    first = next(chunks, None)
    if first is None:
        raise corrupt("WebP")
    p = first.payload(data)
    if first.kind == b"VP8X" and len(p) >= 10:
        width = 1 + int.from_bytes(p[4:7], "little")
        height = 1 + int.from_bytes(p[7:10], "little")
    elif first.kind == b"VP8 " and len(p) >= 10 and p[3:6] == b"\x9d\x01\x2a":
        width, height = (v & 0x3FFF for v in struct.unpack_from("<HH", p, 6))
    elif first.kind == b"VP8L" and len(p) >= 5 and p[0] == 0x2F:
        (bits,) = struct.unpack_from("<I", p, 1)
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    else:
        raise corrupt("WebP")
    frames = 0
    if first.kind == b"VP8X":
        for chunk in chunks:
            if chunk.kind == b"ANMF":
                frames += 1
                if frames >= frame_cap:
                    break
    return Header("webp", width, height, max(frames, 1))


def _avif_header(data: bytes) -> Header:
    """Take the largest ``ispe`` (image spatial extent) in meta/iprp/ipco as the pixel size.

    Using the largest extent over all items is conservative: it covers the primary image
    (or its grid) and can only over-estimate. The frame count comes from libavif later.
    """
    meta = find_box(data, b"meta", 0, len(data))
    if meta is None:
        if find_box(data, b"moov", 0, len(data)) is not None:
            raise MediaError("animated images are not accepted (this AVIF is an image sequence)")
        raise corrupt("AVIF")
    # meta is a "full box": 4 bytes of version/flags precede its children.
    iprp = find_box(data, b"iprp", meta.payload_start + 4, meta.payload_end)
    ipco = iprp and find_box(data, b"ipco", iprp.payload_start, iprp.payload_end)
    best = (0, 0)
    if ipco:
        for box in iter_boxes(data, ipco.payload_start, ipco.payload_end):
            if box.kind == b"ispe" and box.payload_end - box.payload_start >= 12:
                size = struct.unpack_from(">II", data, box.payload_start + 4)
                if size[0] * size[1] > best[0] * best[1]:
                    best = size
    if best == (0, 0):
        raise corrupt("AVIF")
    return Header("avif", best[0], best[1], 1)


def _jpeg_header(data: bytes) -> Header:
    """The first SOFn segment holds the size. Extra MPO images after EOI are ignored (dropped)."""
    for seg in iter_jpeg_segments(data):
        if seg.kind[0] in SOF_MARKERS and seg.payload_end - seg.payload_start >= 5:
            height, width = struct.unpack_from(">HH", data, seg.payload_start + 1)
            return Header("jpeg", width, height, 1)
    raise corrupt("JPEG")


def read_header(data: bytes, fmt: str, frame_cap: int) -> Header:
    """Parse size and frame count for ``fmt``; ``frame_cap`` bounds how far frames are counted."""
    if fmt == "png":
        header = _png_header(data)
    elif fmt == "jpeg":
        header = _jpeg_header(data)
    elif fmt == "gif":
        header = _gif_header(data, frame_cap)
    elif fmt == "webp":
        header = _webp_header(data, frame_cap)
    elif fmt == "avif":
        header = _avif_header(data)
    else:  # pragma: no cover - sniff_format only returns the names above
        raise MediaError(f"not an image we accept; upload a {ACCEPTED}")
    if header.width <= 0 or header.height <= 0:
        raise corrupt(FORMAT_NAMES[fmt])
    return header


# --- limits -----------------------------------------------------------------------------------


def human_bytes(n: int) -> str:
    """Format a byte count for an error message ("16.0 MB", "512 KB", "100 bytes")."""
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n} bytes"


def pixel_limit(limits: MediaLimits) -> int:
    """Our limit, capped at Pillow's bomb threshold so Pillow's own guard can never fire."""
    pillow = Image.MAX_IMAGE_PIXELS
    return limits.max_pixels if pillow is None else min(limits.max_pixels, int(pillow))


def check_byte_size(data: bytes, limits: MediaLimits) -> None:
    """Refuse empty and oversized uploads before looking at a single byte of content."""
    if not data:
        raise MediaError("the file is empty; upload a " + ACCEPTED)
    if len(data) > limits.max_bytes:
        raise MediaError(
            f"the file is too large: {human_bytes(len(data))}; "
            f"the limit is {human_bytes(limits.max_bytes)}"
        )


def check_dimensions(width: int, height: int, limits: MediaLimits) -> None:
    """Refuse an image whose declared pixel count exceeds the limit, naming both numbers."""
    limit = pixel_limit(limits)
    if width * height > limit:
        megapixels = f" (about {limit / 1e6:.0f} megapixels)" if limit >= 1_000_000 else ""
        raise MediaError(
            f"the image is too large: {width} × {height} pixels ({width * height:,} pixels); "
            f"the limit is {limit:,} pixels{megapixels}"
        )


def check_frames(frames: int, limits: MediaLimits, fmt: str, *, exact: bool) -> None:
    """Refuse animations: more frames than allowed (only stills by default)."""
    if frames > limits.max_frames:
        count = f"{frames}" if exact else f"at least {frames}"
        allowed = "a single still image" if limits.max_frames == 1 else "fewer frames"
        raise MediaError(
            f"animated images are not accepted (this {FORMAT_NAMES[fmt]} has {count} frames); "
            f"upload {allowed}"
        )


def check_header(header: Header, limits: MediaLimits) -> None:
    """Apply the pixel and frame limits to a parsed header."""
    check_dimensions(header.width, header.height, limits)
    check_frames(header.frames, limits, header.format, exact=header.format == "png")
