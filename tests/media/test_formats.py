"""Every accepted format goes through the pipeline with correct renditions and sizes."""

from __future__ import annotations

from typing import Any

import pytest
from PIL import ExifTags, Image

from media.pipeline import MediaLimits, ProcessedImage, process_image, sniff_format
from tests.media.helpers import encode, noise_image, open_bytes

CASES: list[tuple[str, str, dict[str, Any], str]] = [
    ("png", "PNG", {}, "image/png"),
    ("jpeg", "JPEG", {"quality": 90}, "image/jpeg"),
    ("webp-lossy", "WEBP", {"quality": 80}, "image/webp"),
    ("webp-lossless", "WEBP", {"lossless": True}, "image/webp"),
    ("avif", "AVIF", {"quality": 70}, "image/webp"),  # stored as lossless WebP
    ("gif", "GIF", {}, "image/png"),  # stored as PNG
]
EXT = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
PILLOW_NAME = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}


def _check_renditions(result: ProcessedImage, width: int, height: int, original_mime: str) -> None:
    """Shared assertions: mimes match the bytes, sizes match the declared ones."""
    assert (result.width, result.height) == (width, height)
    for rendition in (result.original, result.display, result.thumbnail):
        opened = open_bytes(rendition.data)
        assert opened.format == PILLOW_NAME[rendition.mime]
        assert rendition.ext == EXT[rendition.mime]
        assert opened.size == (rendition.width, rendition.height)
    assert result.original.mime == original_mime
    assert (result.original.width, result.original.height) == (width, height)
    assert result.display.mime == result.thumbnail.mime == "image/webp"


@pytest.mark.parametrize(("name", "pil_format", "params", "original_mime"), CASES)
def test_each_format_round_trips(
    name: str, pil_format: str, params: dict[str, Any], original_mime: str
) -> None:
    source = noise_image((900, 600))
    data = encode(source, pil_format, **params)
    result = process_image(data)
    assert result.format == name.split("-")[0]
    assert sniff_format(data) == result.format
    _check_renditions(result, 900, 600, original_mime)
    assert (result.display.width, result.display.height) == (900, 600)  # not upscaled
    assert (result.thumbnail.width, result.thumbnail.height) == (640, 427)


@pytest.mark.parametrize(("name", "pil_format", "params", "original_mime"), CASES)
def test_lossless_originals_keep_every_pixel(
    name: str, pil_format: str, params: dict[str, Any], original_mime: str
) -> None:
    source = noise_image((120, 80))
    data = encode(source, pil_format, **params)
    decoded_input = open_bytes(data).convert("RGB")
    original = open_bytes(process_image(data).original.data).convert("RGB")
    assert original.tobytes() == decoded_input.tobytes()


def test_long_edges_are_capped_landscape_png() -> None:
    data = encode(noise_image((3000, 1500)), "PNG", compress_level=1)
    result = process_image(data)
    _check_renditions(result, 3000, 1500, "image/png")
    assert (result.display.width, result.display.height) == (2048, 1024)
    assert (result.thumbnail.width, result.thumbnail.height) == (640, 320)
    assert result.original.data == data  # nothing to strip: the bytes are untouched


def test_long_edges_are_capped_portrait_jpeg_with_draft_decoding() -> None:
    # 4200 px tall is more than twice the display edge, so the decoder scales by 1/2.
    data = encode(noise_image((1400, 4200)), "JPEG", quality=85)
    result = process_image(data)
    _check_renditions(result, 1400, 4200, "image/jpeg")
    assert (result.display.width, result.display.height) == (683, 2048)
    assert (result.thumbnail.width, result.thumbnail.height) == (213, 640)


def test_small_images_are_not_upscaled() -> None:
    result = process_image(encode(noise_image((100, 80)), "PNG"))
    for rendition in (result.original, result.display, result.thumbnail):
        assert (rendition.width, rendition.height) == (100, 80)


def test_thumbnail_only_is_reduced_between_the_two_edges() -> None:
    result = process_image(encode(noise_image((1000, 1000)), "WEBP"))
    assert (result.display.width, result.display.height) == (1000, 1000)
    assert (result.thumbnail.width, result.thumbnail.height) == (640, 640)


def test_accepts_bytearray_and_memoryview() -> None:
    data = encode(noise_image((40, 30)), "PNG")
    assert process_image(bytearray(data)).width == 40
    assert process_image(memoryview(data)).height == 30  # type: ignore[arg-type]


def test_limits_allow_a_small_animation_and_keep_the_first_frame() -> None:
    frames = [Image.new("RGB", (30, 20), colour) for colour in ("red", "blue")]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    result = process_image(data, MediaLimits(max_frames=2))
    first = open_bytes(result.original.data).convert("RGB")
    assert first.getpixel((5, 5)) == (255, 0, 0)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 8, "png"),
        (b"\xff\xd8\xff\xe0", "jpeg"),
        (b"GIF89a", "gif"),
        (b"GIF87a", "gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp"),
        (b"\x00\x00\x00\x18ftypavif\x00\x00\x00\x00mif1avif", "avif"),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1avif", "avif"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", None),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
        (b"%PDF-1.7", None),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", None),
        (b"", None),
    ],
)
def test_sniff_format_uses_magic_bytes_only(data: bytes, expected: str | None) -> None:
    assert sniff_format(data) == expected


def test_rotated_large_jpeg_reports_upright_sizes() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    data = encode(noise_image((4200, 1400)), "JPEG", exif=exif)
    result = process_image(data)
    assert (result.width, result.height) == (1400, 4200)
    assert (result.original.width, result.original.height) == (1400, 4200)
    assert (result.display.width, result.display.height) == (683, 2048)
    assert (result.thumbnail.width, result.thumbnail.height) == (213, 640)
    assert open_bytes(result.original.data).size == (4200, 1400)  # stored unrotated + tag
