"""Generation metadata is read before stripping: A1111, ComfyUI, Software, C2PA."""

from __future__ import annotations

import json
import struct

import pytest
from PIL import ExifTags, Image, PngImagePlugin

from media.aimeta import C2PA_UUID, TEXT_CAP, cap_text, decode_user_comment
from media.pipeline import process_image
from tessera.errors import MediaError
from tests.media.helpers import (
    A1111_PARAMETERS,
    add_riff_chunk,
    c2pa_jumbf,
    encode,
    insert_png_chunk_before_iend,
    jpeg_insert_segment,
    noise_image,
    png_chunk,
    png_chunks,
)

COMFY_PROMPT = json.dumps(
    {
        "3": {"class_type": "KSampler", "inputs": {"seed": 1234, "steps": 30, "cfg": 7.0}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a castle on a hill"}},
    }
)
COMFY_WORKFLOW = json.dumps(
    {"last_node_id": 9, "nodes": [{"id": 3, "type": "KSampler"}], "links": [], "version": 0.4}
)


def _png(info: PngImagePlugin.PngInfo | None = None) -> bytes:
    return encode(noise_image((64, 64)), "PNG", pnginfo=info)


def _exif_with_comment(comment: bytes, software: str | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.IFD.Exif] = {ExifTags.Base.UserComment: comment}
    if software:
        exif[ExifTags.Base.Software] = software
    return exif


def test_a1111_png_parameters_are_read_and_stripped_from_the_original() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", A1111_PARAMETERS)
    result = process_image(_png(info))
    assert result.generation.a1111_parameters == A1111_PARAMETERS
    assert result.generation.comfy_prompt is None
    assert result.generation.c2pa_present is False
    kinds = {kind for kind, _ in png_chunks(result.original.data)}
    assert not kinds & {b"tEXt", b"zTXt", b"iTXt"}
    assert b"castle" not in result.original.data


def test_comfyui_prompt_and_workflow_are_read_raw() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", COMFY_PROMPT)
    info.add_text("workflow", COMFY_WORKFLOW, zip=True)  # zTXt is read as well
    generation = process_image(_png(info)).generation
    assert generation.comfy_prompt == COMFY_PROMPT
    assert generation.comfy_workflow == COMFY_WORKFLOW
    assert json.loads(generation.comfy_prompt or "")["3"]["class_type"] == "KSampler"
    assert generation.a1111_parameters is None


def test_png_software_itxt_is_read() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("Software", "NovelAI")
    assert process_image(_png(info)).generation.software == "NovelAI"


def test_jpeg_user_comment_in_piexif_unicode_form_is_read() -> None:
    comment = b"UNICODE\x00" + A1111_PARAMETERS.encode("utf-16-be")
    exif = _exif_with_comment(comment, software="Adobe Firefly")
    data = encode(noise_image((64, 48)), "JPEG", exif=exif)
    result = process_image(data)
    assert result.generation.a1111_parameters == A1111_PARAMETERS
    assert result.generation.software == "Adobe Firefly"
    assert b"Firefly" not in result.original.data
    assert A1111_PARAMETERS.encode("utf-16-be")[:40] not in result.original.data


def test_webp_user_comment_is_read() -> None:
    exif = _exif_with_comment(b"ASCII\x00\x00\x00" + A1111_PARAMETERS.encode())
    data = encode(noise_image((64, 48)), "WEBP", exif=exif)
    assert process_image(data).generation.a1111_parameters == A1111_PARAMETERS


def test_user_comment_encodings() -> None:
    text = "Steps: 20, Prompt: café ☕"
    assert decode_user_comment(b"UNICODE\x00" + text.encode("utf-16-be")) == text
    assert decode_user_comment(b"UNICODE\x00" + text.encode("utf-16-le")) == text
    assert decode_user_comment(b"UNICODE\x00" + text.encode("utf-16")) == text  # with BOM
    assert decode_user_comment(b"ASCII\x00\x00\x00" + b"Steps: 20\x00\x00") == "Steps: 20"
    assert decode_user_comment(b"\x00" * 8 + text.encode()) == text
    assert decode_user_comment(b"") is None
    assert decode_user_comment(b"UNICODE\x00") is None
    assert decode_user_comment(12345) is None


def test_texts_are_capped_at_64_kib_without_splitting_characters() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("parameters", "é" * 50_000)  # 100,000 bytes of UTF-8
    info.add_text("workflow", "x" * 200_000, zip=True)
    generation = process_image(_png(info)).generation
    assert generation.a1111_parameters == "é" * (TEXT_CAP // 2)
    assert generation.comfy_workflow == "x" * TEXT_CAP
    assert cap_text("a\x00b") == "ab"  # NUL characters cannot reach a database row
    assert cap_text("  ") is None


def test_c2pa_png_cabx_chunk_detected() -> None:
    data = insert_png_chunk_before_iend(_png(), png_chunk(b"caBX", c2pa_jumbf()))
    result = process_image(data)
    assert result.generation.c2pa_present is True
    assert b"caBX" not in result.original.data


def test_c2pa_jpeg_app11_jumbf_detected() -> None:
    plain = encode(noise_image((64, 48)), "JPEG")
    app11 = b"JP\x00\x01\x00\x00\x00\x01" + c2pa_jumbf()
    result = process_image(jpeg_insert_segment(plain, 0xEB, app11))
    assert result.generation.c2pa_present is True
    assert b"c2pa" not in result.original.data


def test_c2pa_jpeg_app11_without_c2pa_label_is_not_c2pa() -> None:
    plain = encode(noise_image((64, 48)), "JPEG")
    jpeg_xt = b"JP\x00\x01\x00\x00\x00\x01" + c2pa_jumbf().replace(b"c2pa", b"jpxt")
    assert process_image(jpeg_insert_segment(plain, 0xEB, jpeg_xt)).generation.c2pa_present is False
    assert process_image(plain).generation.c2pa_present is False


def test_c2pa_webp_chunk_detected() -> None:
    plain = encode(noise_image((64, 48)), "WEBP", icc_profile=b"")
    # A VP8X container is required for extra chunks; an EXIF-carrying file has one.
    with_vp8x = encode(noise_image((64, 48)), "WEBP", exif=_exif_with_comment(b"x" * 8))
    assert process_image(plain).generation.c2pa_present is False
    assert process_image(with_vp8x).generation.c2pa_present is False
    result = process_image(add_riff_chunk(with_vp8x, b"C2PA", c2pa_jumbf()))
    assert result.generation.c2pa_present is True
    assert b"C2PA" not in result.original.data


def test_c2pa_avif_uuid_box_detected() -> None:
    plain = encode(noise_image((64, 48)), "AVIF")
    payload = C2PA_UUID + b"\x00\x00\x00\x00" + c2pa_jumbf()
    uuid_box = struct.pack(">I", len(payload) + 8) + b"uuid" + payload
    assert process_image(plain).generation.c2pa_present is False
    assert process_image(plain + uuid_box).generation.c2pa_present is True


def test_utf8_written_into_a_latin1_text_chunk_is_repaired() -> None:
    text = "château, golden hour ☀"
    chunk = png_chunk(b"tEXt", b"parameters\x00" + text.encode("utf-8"))
    data = insert_png_chunk_before_iend(_png(), chunk)
    assert process_image(data).generation.a1111_parameters == text


def test_oversized_compressed_text_is_refused_with_a_specific_message() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("workflow", "x" * 3_000_000, zip=True)  # 3 MB inflating from ~3 KB
    with pytest.raises(MediaError) as refused:
        process_image(_png(info))
    assert "oversized compressed text chunk" in refused.value.public


def test_gif_comment_is_read_only_when_it_is_a1111_infotext() -> None:
    image = Image.new("P", (32, 32), 1)
    a1111 = encode(image, "GIF", comment=A1111_PARAMETERS.encode())
    assert process_image(a1111).generation.a1111_parameters == A1111_PARAMETERS
    other = encode(image, "GIF", comment=b"made with a paint program")
    assert process_image(other).generation.a1111_parameters is None


def test_mentions_of_c2pa_in_text_metadata_are_not_a_manifest() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "prompt: a jumbo c2pa logo, self#jumbf=/c2pa/urn")
    assert process_image(_png(info)).generation.c2pa_present is False
    exif = _exif_with_comment(b"ASCII\x00\x00\x00self#jumbf=/c2pa/urn:uuid")
    webp = encode(noise_image((32, 32)), "WEBP", exif=exif)
    assert process_image(webp).generation.c2pa_present is False
