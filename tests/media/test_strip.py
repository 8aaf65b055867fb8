"""The stored original carries no metadata and no re-encoded pixels."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from PIL import ExifTags, Image, ImageOps, PngImagePlugin

from media.pipeline import process_image
from tests.media.helpers import (
    encode,
    jpeg_insert_segment,
    jpeg_markers,
    jpeg_scan,
    noise_image,
    open_bytes,
    png_chunks,
    riff_chunks,
    srgb_icc,
)

PNG_ALLOWED = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"iCCP", b"sRGB", b"gAMA", b"cHRM"}


def _camera_exif(orientation: int) -> Image.Exif:
    """EXIF like a phone writes: make/model, GPS position, orientation, a user comment."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "AcmeCam"
    exif[ExifTags.Base.Model] = "Model X1"
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.IFD.GPSInfo] = {1: "N", 2: (52.0, 22.0, 12.5), 3: "E", 4: (4.0, 53.0, 30.0)}
    exif[ExifTags.IFD.Exif] = {ExifTags.Base.BodySerialNumber: "SN-998877"}
    return exif


def test_jpeg_gps_make_model_xmp_comment_removed_orientation_applied_scan_identical() -> None:
    source = noise_image((320, 200))
    data = encode(
        source,
        "JPEG",
        quality=90,
        exif=_camera_exif(6),
        xmp=b"<x:xmpmeta>Creator: Jane Doe</x:xmpmeta>",
        comment=b"shot near home",
        icc_profile=srgb_icc(),
    )
    data = jpeg_insert_segment(data, 0xED, b"Photoshop 3.0\x008BIM-iptc-city")  # APP13
    data += b"PK\x03\x04 appended archive"  # bytes after EOI
    assert b"AcmeCam" in data and b"Jane Doe" in data

    result = process_image(data)
    original = result.original.data

    for secret in (
        b"AcmeCam",
        b"Model X1",
        b"SN-998877",
        b"Jane Doe",
        b"near home",
        b"iptc",
        b"appended",
    ):
        assert secret not in original
    exif = open_bytes(original).getexif()
    assert dict(exif) == {ExifTags.Base.Orientation: 6}  # only the tag browsers need
    assert not exif.get_ifd(ExifTags.IFD.GPSInfo)
    assert jpeg_scan(original) == jpeg_scan(data[: data.index(b"PK\x03\x04")])
    assert open_bytes(original).tobytes() == open_bytes(data).tobytes()
    assert open_bytes(original).info.get("icc_profile") == srgb_icc()
    # Orientation 6 rotates a 320x200 sensor image to a 200x320 upright one.
    assert (result.width, result.height) == (200, 320)
    assert (result.original.width, result.original.height) == (200, 320)
    assert (result.display.width, result.display.height) == (200, 320)
    upright = source.transpose(Image.Transpose.ROTATE_270)
    display = open_bytes(result.display.data).convert("RGB")
    assert display.size == upright.size
    # Lossy twice (JPEG then WebP) but the same picture: compare a heavily blurred version.
    small = (20, 32)
    diff = [
        abs(a - b)
        for a, b in zip(
            display.resize(small, Image.Resampling.BOX).tobytes(),
            upright.resize(small, Image.Resampling.BOX).tobytes(),
            strict=True,
        )
    ]
    assert max(diff) < 24


def test_jpeg_without_rotation_gets_no_exif_and_a_thumbnail_free_jfif() -> None:
    data = encode(noise_image((64, 48)), "JPEG", exif=_camera_exif(1))
    original = process_image(data).original.data
    markers = jpeg_markers(original)
    assert 0xE1 not in markers
    assert markers[0] == 0xE0
    (length,) = struct.unpack_from(">H", original, 4)
    assert original[6:11] == b"JFIF\x00" and length == 16
    assert original[18:20] == b"\x00\x00"  # no JFIF thumbnail
    assert jpeg_scan(original) == jpeg_scan(data)


def test_png_text_exif_and_time_chunks_are_removed_pixels_untouched() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "secret prompt")
    info.add_text("Comment", "compressed secret", zip=True)
    info.add_itxt("Description", "international secret", lang="en", tkey="Beschreibung")
    info.add(b"tIME", b"\x07\xe8\x01\x02\x03\x04\x05")
    source = noise_image((50, 40))
    data = encode(source, "PNG", pnginfo=info, exif=_camera_exif(1), icc_profile=srgb_icc())

    original = process_image(data).original.data

    kinds = [kind for kind, _ in png_chunks(original)]
    assert set(kinds) <= PNG_ALLOWED
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"iCCP" in kinds
    assert b"secret" not in original and b"AcmeCam" not in original
    idat = [payload for kind, payload in png_chunks(data) if kind == b"IDAT"]
    assert [payload for kind, payload in png_chunks(original) if kind == b"IDAT"] == idat
    assert open_bytes(original).tobytes() == source.tobytes()


def test_png_keeps_16_bit_depth_and_palette_transparency() -> None:
    grey16 = Image.new("I;16", (20, 10), 40000)
    original = open_bytes(process_image(encode(grey16, "PNG")).original.data)
    assert original.mode == "I;16" and original.getpixel((0, 0)) == 40000

    palette = Image.new("P", (20, 10), 1)
    palette.putpalette([0, 0, 0, 255, 0, 0])
    data = encode(palette, "PNG", transparency=0)
    original = open_bytes(process_image(data).original.data)
    assert original.mode == "P" and original.info["transparency"] == 0


def test_png_with_exif_orientation_is_rotated_losslessly() -> None:
    source = noise_image((60, 40))
    data = encode(source, "PNG", exif=_camera_exif(8))
    result = process_image(data)
    original = result.original.data
    assert {kind for kind, _ in png_chunks(original)} <= PNG_ALLOWED
    assert b"AcmeCam" not in original
    rotated = open_bytes(original)
    assert rotated.size == (40, 60) == (result.width, result.height)
    assert rotated.tobytes() == source.transpose(Image.Transpose.ROTATE_90).tobytes()


def _webp_with_metadata(lossless: bool) -> tuple[Image.Image, bytes]:
    source = noise_image((80, 60), "RGBA")
    data = encode(
        source,
        "WEBP",
        lossless=lossless,
        quality=80,
        exif=_camera_exif(1),
        xmp=b"<x:xmpmeta>Creator: Jane Doe</x:xmpmeta>",
        icc_profile=srgb_icc(),
    )
    return source, data


def test_webp_lossy_and_lossless_lose_exif_xmp_but_keep_bitstream() -> None:
    for lossless, bitstream in ((False, b"VP8 "), (True, b"VP8L")):
        _source, data = _webp_with_metadata(lossless)
        before = dict(riff_chunks(data))
        assert b"EXIF" in before and b"XMP " in before and bitstream in before

        original = process_image(data).original
        after = riff_chunks(original.data)  # also asserts the RIFF size is right
        kinds = [kind for kind, _ in after]
        assert b"EXIF" not in kinds and b"XMP " not in kinds
        assert dict(after)[bitstream] == before[bitstream]
        assert dict(after)[b"ICCP"] == before[b"ICCP"]
        flags = dict(after)[b"VP8X"][0]
        assert flags & 0x20 and not flags & (0x08 | 0x04)  # ICC yes, EXIF/XMP no
        assert b"AcmeCam" not in original.data and b"Jane Doe" not in original.data
        assert open_bytes(original.data).tobytes() == open_bytes(data).tobytes()


def test_gif_comment_dropped_and_stored_as_png() -> None:
    source = Image.new("P", (30, 20), 2)
    source.putpalette([0, 0, 0, 255, 255, 255, 10, 200, 30])
    data = encode(source, "GIF", comment=b"made on my laptop", transparency=0)
    original = process_image(data).original
    assert original.mime == "image/png"
    assert b"laptop" not in original.data
    assert {kind for kind, _ in png_chunks(original.data)} <= PNG_ALLOWED
    assert open_bytes(original.data).convert("RGBA").getpixel((1, 1)) == (10, 200, 30, 255)


def test_avif_original_is_lossless_webp_without_exif() -> None:
    data = encode(noise_image((64, 48)), "AVIF", exif=_camera_exif(1), quality=80)
    assert b"AcmeCam" in data
    original = process_image(data).original
    assert original.mime == "image/webp"
    assert b"AcmeCam" not in original.data
    assert {kind for kind, _ in riff_chunks(original.data)} <= {b"VP8X", b"ICCP", b"VP8L"}
    assert open_bytes(original.data).convert("RGB").tobytes() == open_bytes(data).tobytes()


def test_mpo_side_images_and_mpf_segment_are_dropped() -> None:
    first, second = noise_image((64, 48)), Image.new("RGB", (64, 48), "blue")
    data = encode(first, "MPO", save_all=True, append_images=[second])
    assert open_bytes(data).format == "MPO"
    result = process_image(data)
    assert result.format == "jpeg"
    original = open_bytes(result.original.data)
    assert original.format == "JPEG" and getattr(original, "n_frames", 1) == 1
    assert b"MPF\x00" not in result.original.data
    assert len(result.original.data) < len(data) - 500  # the second picture is gone
    assert (
        jpeg_scan(result.original.data) == jpeg_scan(data)[: len(jpeg_scan(result.original.data))]
    )


@pytest.mark.parametrize(
    "params",
    [{"progressive": True}, {"restart_marker_blocks": 1}, {"subsampling": 0, "quality": 100}],
)
def test_jpeg_variants_keep_every_scan_byte(params: dict[str, Any]) -> None:
    data = encode(noise_image((96, 64)), "JPEG", exif=_camera_exif(3), **params)
    result = process_image(data)
    assert jpeg_scan(result.original.data) == jpeg_scan(data)
    assert open_bytes(result.original.data).tobytes() == open_bytes(data).tobytes()
    assert b"AcmeCam" not in result.original.data
    assert (result.width, result.height) == (96, 64)  # 180° keeps the size


def test_jpeg_stray_bytes_between_segments_are_tolerated_and_dropped() -> None:
    data = encode(noise_image((64, 48)), "JPEG")
    app0_end = 4 + struct.unpack_from(">H", data, 4)[0]
    padded = data[:app0_end] + b"\x00\x00\x00" + data[app0_end:]
    original = process_image(padded).original.data
    assert original == data  # the padding is gone, everything else is byte-identical


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_pillow_exif_transpose(orientation: int) -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    data = encode(noise_image((30, 20)), "PNG", exif=exif)
    expected = ImageOps.exif_transpose(open_bytes(data))
    result = process_image(data)
    assert (result.width, result.height) == expected.size
    assert open_bytes(result.original.data).tobytes() == expected.tobytes()
    thumbnail = open_bytes(result.thumbnail.data)
    assert thumbnail.size == expected.size
