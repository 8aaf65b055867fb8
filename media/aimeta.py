"""Generation metadata (prompts, workflows, provenance) read from the upload before stripping.

Where the tools put it:

* Automatic1111/Forge: PNG text chunk ``parameters``; for JPEG/WebP, EXIF UserComment written
  by piexif with an 8-byte charset prefix (``UNICODE\\0`` + UTF-16, usually big-endian, or
  ``ASCII\\0\\0\\0``).
* ComfyUI: PNG text chunks ``prompt`` (API graph) and ``workflow`` (editor graph), raw JSON.
* C2PA content credentials: PNG ``caBX`` chunk; JPEG APP11 segments carrying a JUMBF box
  (``jumb``) labelled ``c2pa``; WebP ``C2PA`` RIFF chunk; AVIF/HEIF a ``uuid`` box with the
  C2PA UUID (or a top-level JUMBF box). Only presence is recorded; validation is out of scope.
* GIF: Automatic1111 writes the parameters into the comment extension.
* Software: PNG ``Software`` text or EXIF tag 0x0131 (NovelAI, Adobe Firefly, ...).

Metadata is informative, never a reason to refuse an upload: every reader tolerates garbage
and returns None. Each text is capped at 64 KiB (UTF-8) and NUL characters are removed, so a
hostile chunk cannot bloat or break a database row.
"""

from __future__ import annotations

import logging

from PIL import ExifTags, Image, PngImagePlugin

from media.containers import iter_boxes, iter_jpeg_segments, iter_png_chunks, iter_riff_chunks
from media.models import GenerationMetadata

log = logging.getLogger(__name__)

TEXT_CAP = 64 * 1024
USER_COMMENT_TAG = 0x9286
SOFTWARE_TAG = 0x0131
C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")


def cap_text(value: object) -> str | None:
    """Normalise a metadata value to text of at most 64 KiB of UTF-8; None if empty."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).replace("\x00", "")
    encoded = text.encode("utf-8", "replace")
    if len(encoded) > TEXT_CAP:
        text = encoded[:TEXT_CAP].decode("utf-8", "ignore")  # drop a split trailing character
    return text if text.strip() else None


def decode_user_comment(raw: object) -> str | None:
    """Decode EXIF UserComment: an 8-byte character-code prefix, then the text."""
    if isinstance(raw, str):
        return cap_text(raw)
    if not isinstance(raw, bytes) or not raw:
        return None
    prefix, body = raw[:8], raw[8:]
    if prefix == b"UNICODE\x00":
        if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
            text = body.decode("utf-16", "replace")
        else:
            # No BOM: ASCII-heavy text has its zero bytes first in big-endian (piexif's choice).
            sample = body[:512]
            big = sample[0::2].count(0) >= sample[1::2].count(0)
            text = body.decode("utf-16-be" if big else "utf-16-le", "replace")
    elif prefix == b"JIS\x00\x00\x00\x00\x00":
        text = body.decode("shift_jis", "replace")
    elif prefix in (b"ASCII\x00\x00\x00", b"\x00" * 8):
        text = body.decode("utf-8", "replace")
    else:
        text = raw.decode("utf-8", "replace")
    return cap_text(text.rstrip("\x00 "))


def _latin1_as_utf8(value: str) -> str:
    """Undo mojibake: tEXt/zTXt are Latin-1 by spec, but many tools write UTF-8 into them."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def _png_texts(image: Image.Image) -> dict[str, str]:
    """All tEXt/zTXt/iTXt entries (Pillow has read them all once the image is loaded)."""
    texts = getattr(image, "text", None) or {}
    return {
        str(key): str(value) if isinstance(value, PngImagePlugin.iTXt) else _latin1_as_utf8(value)
        for key, value in texts.items()
    }


def _lookup(texts: dict[str, str], key: str) -> str | None:
    """Case-insensitive key lookup: tools disagree on "Software" vs "software"."""
    for name, value in texts.items():
        if name.lower() == key:
            return value
    return None


def _is_c2pa_jumbf(box: bytes) -> bool:
    """A JUMBF superbox (``jumb``) whose description box is labelled ``c2pa``.

    The label sits in the first few dozen bytes, so a prompt or XMP text that merely
    mentions "c2pa" or a ``#jumbf=`` URI does not count.
    """
    return box[4:8] == b"jumb" and b"c2pa" in box[:128]


def _c2pa_in_jpeg(data: bytes) -> bool:
    """APP11 segments carry JUMBF as "JP", En (2), Z (4), then the box (JPEG XT framing)."""
    return any(
        seg.kind == b"\xeb" and (p := seg.payload(data))[:2] == b"JP" and _is_c2pa_jumbf(p[8:])
        for seg in iter_jpeg_segments(data)
    )


def _c2pa_in_webp(data: bytes) -> bool:
    """The C2PA spec uses a ``C2PA`` RIFF chunk; also accept a bare JUMBF in an unknown chunk."""
    return any(
        chunk.kind == b"C2PA" or _is_c2pa_jumbf(chunk.payload(data))
        for chunk in iter_riff_chunks(data)
        if chunk.kind not in (b"VP8 ", b"VP8L", b"ALPH", b"ANMF")
    )


def _c2pa_in_bmff(data: bytes) -> bool:
    """ISO BMFF (AVIF/HEIF): a top-level ``uuid`` box with the C2PA UUID, or a JUMBF box."""
    for box in iter_boxes(data):
        if box.kind == b"uuid" and data[box.payload_start : box.payload_start + 16] == C2PA_UUID:
            return True
        if box.kind == b"jumb" and _is_c2pa_jumbf(data[box.start : box.start + 128]):
            return True
    return False


def c2pa_present(data: bytes, fmt: str) -> bool:
    """Whether a C2PA manifest store is embedded, using each format's carriage rules."""
    try:
        if fmt == "png":
            return any(chunk.kind == b"caBX" for chunk in iter_png_chunks(data))
        if fmt == "jpeg":
            return _c2pa_in_jpeg(data)
        if fmt == "webp":
            return _c2pa_in_webp(data)
        if fmt == "avif":
            return _c2pa_in_bmff(data)
    except Exception as exc:  # the decoder has accepted the file; stay best-effort here
        log.info("C2PA scan failed on a %s upload: %r", fmt, exc)
    return False


def _exif_fields(image: Image.Image) -> tuple[str | None, str | None]:
    """(UserComment, Software) from EXIF, tolerating broken EXIF."""
    try:
        exif = image.getexif()
        comment = exif.get_ifd(ExifTags.IFD.Exif).get(USER_COMMENT_TAG)
        return decode_user_comment(comment), cap_text(exif.get(SOFTWARE_TAG))
    except Exception as exc:
        log.info("ignoring unreadable EXIF: %r", exc)
        return None, None


def read_generation(data: bytes, fmt: str, image: Image.Image) -> GenerationMetadata:
    """Collect generation metadata from the original bytes and the decoded (loaded) image."""
    a1111 = comfy_prompt = comfy_workflow = software = None
    if fmt == "png":
        texts = _png_texts(image)
        a1111 = cap_text(texts.get("parameters"))
        comfy_prompt = cap_text(texts.get("prompt"))
        comfy_workflow = cap_text(texts.get("workflow"))
        software = cap_text(_lookup(texts, "software"))
    comment, exif_software = _exif_fields(image)
    if fmt in ("jpeg", "webp", "avif"):
        a1111 = comment
    elif fmt == "gif":  # A1111 stores its parameters in the GIF comment extension
        gif_comment = cap_text(image.info.get("comment"))
        # GIF comments are free text from many tools; A1111's always list "Steps: N".
        a1111 = gif_comment if gif_comment and "Steps: " in gif_comment else None
    return GenerationMetadata(
        a1111_parameters=a1111,
        comfy_prompt=comfy_prompt,
        comfy_workflow=comfy_workflow,
        c2pa_present=c2pa_present(data, fmt),
        software=software or exif_software,
    )
