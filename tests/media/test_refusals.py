"""Every bad upload is refused with MediaError and a message a user can act on."""

from __future__ import annotations

import random
import struct
import warnings
import zlib

import pytest
from PIL import Image, ImageFile

import media.decode
from media.pipeline import MediaLimits, process_image
from tessera.errors import MediaError
from tests.media.helpers import encode, noise_image, png_chunk


def refused(data: bytes, limits: MediaLimits | None = None) -> str:
    """Run the pipeline, assert it refuses with a 422 MediaError, return the public message."""
    with pytest.raises(MediaError) as info:
        process_image(data, limits or MediaLimits())
    assert info.value.status == 422
    assert info.value.public == str(info.value)
    return info.value.public


@pytest.fixture(scope="module")
def png_bomb() -> bytes:
    """A real 10000x10000 PNG: 100 MP declared, about 15 KB on disk (mode "1" zeros)."""
    return encode(Image.new("1", (10_000, 10_000)), "PNG", optimize=True)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"hello, this is just some text\n", "a text file"),
        (b"%PDF-1.7\n1 0 obj << >> endobj", "a PDF document"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>', "SVG"),
        (b"<svg viewBox='0 0 10 10'><script>alert(1)</script></svg>", "SVG"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "an HTML document"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC"),
        (b"BM" + b"\x00" * 60, "a BMP image"),
        (bytes(range(256)) * 4, "unrecognised binary data"),
    ],
)
def test_non_images_are_refused_and_described(data: bytes, expected: str) -> None:
    message = refused(data)
    assert message.startswith("not an image we accept")
    assert expected in message
    assert "PNG, JPEG, WebP, AVIF" in message


def test_empty_upload() -> None:
    assert "empty" in refused(b"")


def test_over_max_bytes_is_refused_before_anything_else() -> None:
    data = encode(noise_image((200, 200)), "PNG")
    message = refused(data, MediaLimits(max_bytes=10 * 1024))
    assert "the limit is 10 KB" in message and f"{len(data) // 1024} KB" in message
    tiny = refused(b"x" * 20, MediaLimits(max_bytes=10))
    assert "20 bytes" in tiny and "not an image" not in tiny  # size is checked before format


def _forbid_decoding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record any pixel decoding Pillow is asked to do (a refusal must come from the header)."""
    calls: list[str] = []
    original = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile):  # type: ignore[no-untyped-def]
        calls.append(f"{self.format} {self.size}")
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return calls


def test_png_bomb_is_refused_from_the_header(
    png_bomb: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(png_bomb) < 200_000
    decoded = _forbid_decoding(monkeypatch)
    message = refused(png_bomb)
    assert decoded == []  # decoding 100 MP would take seconds and ~100 MB
    assert "10000 × 10000" in message
    assert "100,000,000 pixels" in message
    assert "33,177,600" in message


def test_pillow_bomb_guard_never_fires_even_with_a_higher_limit(png_bomb: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a DecompressionBombWarning would fail the test
        message = refused(png_bomb, MediaLimits(max_pixels=10**9))
    assert f"{Image.MAX_IMAGE_PIXELS:,}" in message


def test_pillow_bomb_error_is_converted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    message = refused(encode(noise_image((30, 30)), "PNG"))
    assert "30 × 30" in message and "limit is 100 pixels" in message


def test_animated_gif_is_refused() -> None:
    frames = [Image.new("RGB", (30, 20), colour) for colour in ("red", "blue")]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    message = refused(data)
    assert "animated images are not accepted" in message and "GIF" in message


def test_gif_with_thousands_of_frames_is_refused_without_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    one = encode(Image.new("P", (16, 16), 1), "GIF")
    body = one[one.index(b"\x2c") : -1]  # image descriptor + LZW data, without the trailer
    data = one[: one.index(b"\x2c")] + body * 20_000 + b"\x3b"
    decoded = _forbid_decoding(monkeypatch)
    message = refused(data)
    assert decoded == []
    assert "at least 2 frames" in message


def test_apng_is_refused() -> None:
    frames = [Image.new("RGBA", (30, 20), colour) for colour in ("red", "blue", "green")]
    data = encode(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100)
    assert b"acTL" in data
    message = refused(data)
    assert "animated images are not accepted" in message and "has 3 frames" in message


def test_animated_webp_is_refused() -> None:
    frames = [Image.new("RGB", (30, 20), colour) for colour in ("red", "blue")]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100)
    assert "animated images are not accepted" in refused(data)


@pytest.mark.parametrize("pil_format", ["PNG", "JPEG", "WEBP", "GIF", "AVIF"])
def test_truncated_files_are_refused(pil_format: str) -> None:
    data = encode(noise_image((200, 150)), pil_format)
    message = refused(data[: len(data) // 2])
    assert "truncated or corrupt" in message


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + b"garbage" * 10,
        b"\xff\xd8\xff" + b"garbage" * 10,
        b"GIF89a\x01",
        b"RIFF\x10\x00\x00\x00WEBPVP8 \x04\x00\x00\x00abcd",
        b"\x00\x00\x00\x10ftypavif\x00\x00\x00\x00",
    ],
)
def test_corrupt_headers_are_refused(data: bytes) -> None:
    assert "truncated or corrupt" in refused(data)


def test_png_with_bad_crc_or_zero_size_is_refused() -> None:
    good = encode(noise_image((20, 20)), "PNG")
    bad_crc = good[:29] + bytes([good[29] ^ 0xFF]) + good[30:]  # IHDR CRC byte
    assert "truncated or corrupt" in refused(bad_crc)
    ihdr = struct.pack(">IIBBBBB", 0, 20, 8, 2, 0, 0, 0)
    zero = good[:8] + png_chunk(b"IHDR", ihdr) + good[33:]
    assert "truncated or corrupt" in refused(zero)


def test_corrupt_pixel_data_is_refused() -> None:
    rows = b"".join(b"\x00" + random.Random(row).randbytes(30) for row in range(10))
    raw = bytearray(zlib.compress(rows))
    raw[2:12] = bytes(b ^ 0x5A for b in raw[2:12])  # damage the first deflate block
    ihdr = struct.pack(">IIBBBBB", 10, 10, 8, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", bytes(raw))
        + png_chunk(b"IEND", b"")
    )
    assert "truncated or corrupt" in refused(data)


def test_avif_refused_cleanly_when_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(noise_image((32, 32)), "AVIF")
    monkeypatch.setattr(media.decode, "avif_supported", lambda: False)
    assert "AVIF images are not supported" in refused(data)
