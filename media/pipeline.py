"""Entry point of the media pipeline: upload bytes in, stored renditions out.

``process_image`` is pure and synchronous (no database, network, files or global state), so
the web layer can run it in a worker thread or process and retry it freely. Steps, cheapest
and most protective first:

1. byte size (``MediaLimits.max_bytes``), then the real format from magic numbers;
2. width/height/frames parsed from the header by hand and checked against the limits, so
   bombs and long animations are refused before Pillow allocates anything;
3. full decode inside a broad ``try`` (truncated or corrupt data becomes ``MediaError``);
4. generation metadata read from the untouched upload;
5. the metadata-free original (see ``media.strip``), then the WebP display/thumbnail and the
   blurhash (see ``media.derivatives``), all upright according to EXIF orientation.

Every refusal is a ``tessera.errors.MediaError`` whose ``public`` message names the problem.
"""

from __future__ import annotations

import logging

from media.aimeta import read_generation
from media.decode import decode
from media.derivatives import DISPLAY_EDGE, make_derivatives
from media.models import GenerationMetadata, MediaLimits, ProcessedImage, Rendition
from media.orientation import oriented_size, read_orientation
from media.probe import (
    ACCEPTED,
    FORMAT_NAMES,
    check_byte_size,
    check_header,
    describe_unknown,
    read_header,
    sniff_format,
)
from media.strip import make_original
from tessera.errors import MediaError

__all__ = [
    "GenerationMetadata",
    "MediaLimits",
    "ProcessedImage",
    "Rendition",
    "process_image",
    "sniff_format",
]

log = logging.getLogger(__name__)

_DEFAULT_LIMITS = MediaLimits()


def process_image(data: bytes, limits: MediaLimits = _DEFAULT_LIMITS) -> ProcessedImage:
    """Validate an upload and produce everything the gallery stores for it.

    Raises ``MediaError`` for anything we do not accept: empty or oversized files, formats
    other than PNG/JPEG/WebP/AVIF/still GIF, images over the pixel limit, animations, and
    truncated or corrupt files.
    """
    data = bytes(data)
    check_byte_size(data, limits)
    fmt = sniff_format(data)
    if fmt is None:
        raise MediaError(
            f"not an image we accept: this looks like {describe_unknown(data)}; upload a {ACCEPTED}"
        )
    header = read_header(data, fmt, frame_cap=limits.max_frames + 1)
    check_header(header, limits)

    decoded = decode(data, header, limits, draft_edge=DISPLAY_EDGE)
    try:
        generation = read_generation(data, fmt, decoded.image)
        orientation = read_orientation(decoded.image)
        original = make_original(data, decoded, orientation, fmt)
        display, thumbnail, blurhash = make_derivatives(decoded, orientation)
    except (MediaError, MemoryError):
        raise
    except Exception as exc:
        # The file decoded, so this is an odd mode or encoder limit, not a truncated upload.
        # Log the traceback for us; tell the user something they can act on.
        log.exception("processing a decoded %s upload failed", fmt)
        raise MediaError(
            f"this {FORMAT_NAMES[fmt]} image could not be processed; "
            "try saving it again as PNG or JPEG"
        ) from exc
    finally:
        decoded.image.close()
    width, height = oriented_size(decoded.width, decoded.height, orientation)
    return ProcessedImage(
        format=fmt,
        original=original,
        display=display,
        thumbnail=thumbnail,
        width=width,
        height=height,
        blurhash=blurhash,
        generation=generation,
    )
