"""Display/thumbnail colour handling and the blurhash placeholder."""

from __future__ import annotations

import warnings

import blurhash
import pytest
from PIL import ExifTags, Image, PngImagePlugin

import media.derivatives
from media.derivatives import _encode_blurhash
from media.pipeline import process_image
from tests.media.helpers import (
    blurhash_components,
    encode,
    noise_image,
    open_bytes,
    srgb_icc,
)


@pytest.mark.parametrize(
    ("size", "components"),
    [
        ((400, 300), (4, 3)),
        ((300, 400), (3, 4)),
        ((300, 300), (4, 4)),
        ((330, 300), (4, 4)),
        ((900, 300), (5, 2)),
        ((300, 900), (2, 5)),
    ],
)
def test_blurhash_is_valid_with_components_by_aspect(
    size: tuple[int, int], components: tuple[int, int]
) -> None:
    value = process_image(encode(noise_image(size), "PNG")).blurhash
    assert blurhash.is_valid_blurhash(value)
    assert blurhash_components(value) == components
    assert len(value) == 4 + 2 * components[0] * components[1]


def test_blurhash_uses_the_oriented_aspect() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    value = process_image(encode(noise_image((400, 300)), "JPEG", exif=exif)).blurhash
    assert blurhash_components(value) == (3, 4)


def test_blurhash_is_computed_on_a_tiny_image(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, int]] = []
    real = media.derivatives._encode_blurhash

    def spy(image: Image.Image, x: int, y: int) -> str:
        seen.append(image.size)
        return real(image, x, y)

    monkeypatch.setattr(media.derivatives, "_encode_blurhash", spy)
    process_image(encode(noise_image((3000, 2000)), "JPEG"))
    assert seen == [(64, 43)]


def test_blurhash_fast_path_matches_the_public_encoder() -> None:
    image = noise_image((48, 32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # blurhash.encode uses getdata()
        expected = blurhash.encode(image.copy(), 4, 3)
    assert _encode_blurhash(image, 4, 3) == expected


def test_blurhash_of_a_solid_colour_reflects_the_colour() -> None:
    value = process_image(encode(Image.new("RGB", (64, 64), (200, 30, 30)), "PNG")).blurhash
    decoded = blurhash.decode(value, 4, 4).convert("RGB")
    red, green, blue = decoded.getpixel((2, 2))  # type: ignore[misc]
    assert red > 180 and green < 60 and blue < 60


def _display(data: bytes) -> Image.Image:
    return open_bytes(process_image(data).display.data)


def test_palette_with_transparency_keeps_alpha() -> None:
    image = Image.new("P", (40, 40), 1)
    image.putpalette([0, 0, 0, 0, 128, 255])
    image.paste(0, (0, 0, 20, 40))
    display = _display(encode(image, "PNG", transparency=0))
    assert display.mode == "RGBA"
    assert display.getpixel((5, 5))[3] == 0  # type: ignore[index]
    assert display.getpixel((30, 5))[3] == 255  # type: ignore[index]


def test_grey_alpha_becomes_rgba() -> None:
    image = Image.new("LA", (40, 40), (90, 128))
    display = _display(encode(image, "PNG"))
    assert display.mode == "RGBA"
    red, green, blue, alpha = display.getpixel((10, 10))  # type: ignore[misc]
    assert abs(alpha - 128) <= 2 and abs(red - 90) <= 4 and red == green == blue


def test_16_bit_grey_is_scaled_not_clipped() -> None:
    display = _display(encode(Image.new("I;16", (40, 40), 40000), "PNG"))
    red, _green, _blue = display.convert("RGB").getpixel((10, 10))  # type: ignore[misc]
    assert abs(red - round(40000 * 255 / 65535)) <= 3


def test_one_bit_png_is_converted() -> None:
    image = Image.new("1", (40, 40), 1)
    display = _display(encode(image, "PNG"))
    assert display.mode == "RGB"
    assert display.getpixel((3, 3)) == (255, 255, 255)


def test_cmyk_jpeg_comes_out_in_correct_colours() -> None:
    cmyk = Image.new("CMYK", (64, 64), (0, 255, 255, 0))  # pure red ink mix
    data = encode(cmyk, "JPEG", quality=95)
    assert open_bytes(data).mode == "CMYK"
    result = process_image(data)
    original = open_bytes(result.original.data)
    assert original.mode == "CMYK"  # stored as uploaded, Adobe APP14 kept
    assert original.tobytes() == open_bytes(data).tobytes()
    red, green, blue = open_bytes(result.display.data).getpixel((32, 32))  # type: ignore[misc]
    assert red > 200 and green < 60 and blue < 60


def test_rgb_icc_profile_is_embedded_in_derivatives() -> None:
    data = encode(noise_image((80, 60)), "PNG", icc_profile=srgb_icc())
    result = process_image(data)
    for rendition in (result.display, result.thumbnail):
        assert open_bytes(rendition.data).info.get("icc_profile") == srgb_icc()


def test_derivatives_carry_no_metadata() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "secret prompt")
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "AcmeCam"
    data = encode(noise_image((80, 60)), "PNG", pnginfo=info, exif=exif)
    result = process_image(data)
    for rendition in (result.display, result.thumbnail):
        assert b"EXIF" not in rendition.data and b"XMP " not in rendition.data
        assert b"AcmeCam" not in rendition.data and b"secret" not in rendition.data
