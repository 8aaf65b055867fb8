"""Opening and fully decoding an upload with Pillow, turning every failure into MediaError.

Pillow reports damaged input with a zoo of exceptions (OSError "image file is truncated",
SyntaxError for broken PNG chunks, ValueError, EOFError, struct.error...) and, for huge
images, DecompressionBombWarning/Error. The web layer must only ever see ``MediaError`` with
a message a user can act on, so this is the one place that calls ``Image.open``/``load`` and
catches broadly. We never set ``ImageFile.LOAD_TRUNCATED_IMAGES``: a half-uploaded file is
refused, not silently padded with grey.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from PIL import Image, features

from media.containers import corrupt
from media.models import MediaLimits
from media.probe import FORMAT_NAMES, Header, check_dimensions, check_frames
from tessera.errors import MediaError

log = logging.getLogger(__name__)

_PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "gif": "GIF", "webp": "WEBP", "avif": "AVIF"}


@dataclass(frozen=True, slots=True)
class Decoded:
    """A loaded image plus its full stored size (``image.size`` may be smaller after draft)."""

    image: Image.Image
    width: int
    height: int


def avif_supported() -> bool:
    """Whether this Pillow build can decode AVIF (it is an optional plugin)."""
    return bool(features.check("avif"))


def _open(data: bytes, fmt: str) -> Image.Image:
    """``Image.open`` restricted to the sniffed format; reads the header only (lazy)."""
    try:
        return Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[fmt]])
    except Exception as exc:  # Pillow signals bad headers with many exception types
        raise _refusal(fmt, exc) from exc


def _refusal(fmt: str, exc: Exception) -> MediaError:
    """Translate a Pillow failure into the most specific message we can give."""
    log.info("Pillow could not read a %s upload: %r", fmt, exc)
    if isinstance(exc, Image.DecompressionBombError | Image.DecompressionBombWarning):
        return MediaError("the image has too many pixels to be processed safely")
    if isinstance(exc, ValueError) and "MAX_TEXT" in str(exc):
        # PngImagePlugin refuses >1 MB of decompressed text per chunk (zip-bomb guard).
        return MediaError(
            "the PNG carries an oversized compressed text chunk (over 1 MB of prompt or "
            "workflow metadata); remove the metadata and upload it again"
        )
    return corrupt(FORMAT_NAMES[fmt])


def decode(data: bytes, header: Header, limits: MediaLimits, *, draft_edge: int) -> Decoded:
    """Open, re-check limits against what Pillow parsed, then decode all pixel data.

    ``draft_edge`` lets JPEG use libjpeg's DCT scaling (1/2, 1/4, 1/8) when the image is far
    larger than the biggest derivative we need: the whole entropy-coded stream is still
    decoded (so truncation is still detected) but at a fraction of the memory and time.
    The stripped original is copied from the bytes, so it is unaffected.
    """
    fmt = header.format
    if fmt == "avif" and not avif_supported():
        raise MediaError("AVIF images are not supported on this server; upload PNG, JPEG or WebP")
    image = _open(data, fmt)
    try:
        width, height = image.size
        # Belt and braces: the size Pillow will allocate must pass too, not just our parse.
        check_dimensions(width, height, limits)
        # GIF frames were counted from the blocks already (Pillow's n_frames walks every frame);
        # extra MPO pictures after a JPEG's EOI are dropped by stripping, they are not frames.
        if fmt in ("png", "webp", "avif"):
            check_frames(getattr(image, "n_frames", 1), limits, fmt, exact=True)
        if fmt == "jpeg" and max(width, height) >= 2 * draft_edge:
            scale = draft_edge / max(width, height)
            image.draft(None, (max(1, round(width * scale)), max(1, round(height * scale))))
        image.load()
    except MediaError:
        image.close()
        raise
    except Exception as exc:  # truncated/corrupt data surfaces here as OSError, ValueError...
        image.close()
        raise _refusal(fmt, exc) from exc
    return Decoded(image, width, height)
