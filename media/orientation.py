"""EXIF orientation: read it once, apply it the same way to every output.

Cameras (and some editors) store pixels unrotated plus an Orientation tag. We report width and
height as displayed and bake the rotation into derivatives and blurhash, so the gallery never
depends on a browser honouring the tag. The mapping is the one ``ImageOps.exif_transpose``
uses; we apply it ourselves so a drafted (DCT-downscaled) JPEG and the full-size original use
the same value, and a malformed EXIF block degrades to "no rotation" instead of an error.
"""

from __future__ import annotations

import logging

from PIL import Image

log = logging.getLogger(__name__)

ORIENTATION_TAG = 0x0112

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def read_orientation(image: Image.Image) -> int:
    """Return the EXIF orientation (1-8), or 1 when absent or malformed."""
    try:
        value = image.getexif().get(ORIENTATION_TAG, 1)
    except Exception as exc:  # broken EXIF must not make a valid image unusable
        log.info("ignoring unreadable EXIF: %r", exc)
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def swaps_axes(orientation: int) -> bool:
    """Orientations 5-8 rotate by 90°, so displayed width and height are exchanged."""
    return orientation >= 5


def oriented_size(width: int, height: int, orientation: int) -> tuple[int, int]:
    """The displayed size of a stored ``width`` x ``height`` image."""
    return (height, width) if swaps_axes(orientation) else (width, height)


def apply_orientation(image: Image.Image, orientation: int) -> Image.Image:
    """Return ``image`` rotated/flipped upright (the same object when nothing is needed)."""
    method = _TRANSPOSE.get(orientation)
    return image if method is None else image.transpose(method)
