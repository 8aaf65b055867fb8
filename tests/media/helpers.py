"""Builders for real test images (made with Pillow at test time; no fixture files).

The byte-level helpers (chunk lists, hand-written chunks) are written independently of
``media.containers`` so the tests do not just check the walkers against themselves.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib
from typing import Any

from PIL import Image, ImageCms

A1111_PARAMETERS = (
    "a castle on a hill, golden hour\n"
    "Negative prompt: blurry\n"
    "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234, Size: 1024x1024, "
    "Model: sdxl_base"
)

BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"


def noise_image(size: tuple[int, int], mode: str = "RGB", sigma: int = 40) -> Image.Image:
    """A detailed (hard to compress) image; channels differ so colour bugs show up."""
    bands = [Image.effect_noise(size, sigma + 7 * i) for i in range(3)]
    rgb = Image.merge("RGB", bands)
    return rgb if mode == "RGB" else rgb.convert(mode)


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    """Save ``image`` to bytes in ``fmt`` with Pillow."""
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def open_bytes(data: bytes) -> Image.Image:
    """Open and fully load an image from bytes."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, payload) for every chunk of a PNG, stopping at IEND."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4 : pos + 8]
        chunks.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
        if kind == b"IEND":
            break
    return chunks


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One serialised PNG chunk with a correct CRC."""
    crc = zlib.crc32(kind + payload)
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def insert_png_chunk_before_iend(data: bytes, chunk: bytes) -> bytes:
    """Insert a serialised chunk right before IEND (the last 12 bytes of a Pillow PNG)."""
    assert data[-8:-4] == b"IEND"
    return data[:-12] + chunk + data[-12:]


def riff_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(fourcc, payload) for every chunk of a RIFF/WEBP file."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    (size,) = struct.unpack_from("<I", data, 4)
    assert size + 8 == len(data), "RIFF size must match the file length"
    pos, chunks = 12, []
    while pos < len(data):
        kind = data[pos : pos + 4]
        (length,) = struct.unpack_from("<I", data, pos + 4)
        chunks.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 8 + length + (length & 1)
    return chunks


def add_riff_chunk(data: bytes, kind: bytes, payload: bytes) -> bytes:
    """Append a chunk to a RIFF/WEBP file and fix the RIFF size."""
    chunk = (
        kind + struct.pack("<I", len(payload)) + payload + (b"\x00" if len(payload) & 1 else b"")
    )
    body = data[12:] + chunk
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body


def jpeg_markers(data: bytes) -> list[int]:
    """Marker codes of the segments before the first SOS (the header part of a JPEG)."""
    pos, markers = 2, []
    while True:
        assert data[pos] == 0xFF
        marker = data[pos + 1]
        markers.append(marker)
        if marker == 0xDA:
            return markers
        (length,) = struct.unpack_from(">H", data, pos + 2)
        pos += 2 + length


def jpeg_scan(data: bytes) -> bytes:
    """From the first SOS marker to the end: scan header plus entropy-coded data plus EOI."""
    return data[data.index(b"\xff\xda") :]


def jpeg_insert_segment(data: bytes, marker: int, payload: bytes) -> bytes:
    """Insert an APPn-style segment right after SOI."""
    segment = bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload
    return data[:2] + segment + data[2:]


def c2pa_jumbf() -> bytes:
    """A minimal JUMBF superbox shaped like a C2PA manifest store (jumb > jumd "c2pa")."""
    jumd = b"jumd" + bytes.fromhex("6332706100110010800000aa00389b71") + b"\x03c2pa\x00"
    jumd_box = struct.pack(">I", len(jumd) + 4) + jumd
    return struct.pack(">I", len(jumd_box) + 8) + b"jumb" + jumd_box


@functools.cache
def srgb_icc() -> bytes:
    """A real RGB ICC profile to embed: made once, because its header carries the time it
    was made, and a test comparing a profile embedded a moment ago with a fresh one
    failed whenever the two fell in different seconds."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def blurhash_components(value: str) -> tuple[int, int]:
    """Decode (x, y) components from a blurhash's first character."""
    flag = BASE83.index(value[0])
    return flag % 9 + 1, flag // 9 + 1
