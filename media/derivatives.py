"""Display and thumbnail WebPs plus the blurhash placeholder, from the decoded upload.

Speed drives the order of operations: convert the mode once, downscale to the display size
(Pillow's ``reducing_gap`` does a cheap integer ``reduce()`` before LANCZOS), rotate the
already small image, then make the thumbnail from the display image and the blurhash from a
<= 64 px copy of the thumbnail (blurhash cost grows with pixel count: measured ~110 ms at
640x427, ~1 ms at 64x43). Derivatives never upscale. Colour is handled explicitly: palette, grey,
16-bit and alpha modes become RGB/RGBA, CMYK is converted through its ICC profile when it has
one, and an RGB ICC profile (e.g. Display P3) is embedded so browsers render the same colours.
"""

from __future__ import annotations

import io
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import blurhash
from PIL import Image, ImageCms

from media.decode import Decoded
from media.models import Rendition
from media.orientation import apply_orientation

try:  # the C encoder behind blurhash.encode, fed raw bytes (see _encode_blurhash)
    from blurhash._functions import ffi as _bh_ffi
    from blurhash._functions import lib as _bh_lib
except ImportError:  # pragma: no cover - depends on the installed blurhash build
    _bh_ffi = _bh_lib = None

log = logging.getLogger(__name__)

DISPLAY_EDGE = 2048
THUMBNAIL_EDGE = 640
BLURHASH_EDGE = 64
DISPLAY_QUALITY = 88
THUMBNAIL_QUALITY = 82
WEBP_METHOD = 4
_REDUCING_GAP = 3.0
_BLURHASH_BACKGROUND = (255, 255, 255)  # transparent areas show the page's default white
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_HIGH_DEPTH = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N", "F"})


def _srgb_profile() -> ImageCms.ImageCmsProfile:
    """A fresh sRGB profile per call: cheap, and LittleCMS handles are not thread-safe."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _icc_space(icc: bytes | None) -> bytes:
    """The colour-space signature of an ICC profile (bytes 16-19: b"RGB ", b"CMYK"...)."""
    return icc[16:20] if icc and len(icc) >= 20 else b""


def _cmyk_to_rgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """Convert through the embedded CMYK profile when possible; naive conversion otherwise."""
    if _icc_space(icc) == b"CMYK":
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc or b""))
            converted = ImageCms.profileToProfile(image, source, _srgb_profile(), outputMode="RGB")
            if converted is not None:
                return converted
        except Exception as exc:  # a broken profile must not refuse the upload
            log.info("CMYK ICC conversion failed, using plain conversion: %r", exc)
    return image.convert("RGB")


def _high_depth_to_l(image: Image.Image) -> Image.Image:
    """Scale 16-bit (or 32-bit integer) grey to 8 bits; Pillow's convert("L") would clip."""
    wide = image if image.mode == "I" else image.convert("I")
    _low, high = wide.getextrema()
    if isinstance(high, int | float) and high > 255:
        wide = wide.point(lambda v: v * (255 / 65535))
    return wide.convert("L")


def to_rgb(image: Image.Image) -> tuple[Image.Image, bytes | None]:
    """Return an RGB or RGBA image, plus an RGB ICC profile worth embedding (or None)."""
    mode = image.mode
    icc = image.info.get("icc_profile") or None
    rgb_icc = icc if _icc_space(icc) == b"RGB " else None
    has_alpha = mode in _ALPHA_MODES or "transparency" in image.info
    if mode == "P" and image.palette is not None and image.palette.mode == "RGBA":
        has_alpha = True
    if mode == "RGBA" or (mode == "RGB" and not has_alpha):
        return image, rgb_icc
    if mode == "CMYK":
        return _cmyk_to_rgb(image, icc), None
    if mode in _HIGH_DEPTH:
        return _high_depth_to_l(image).convert("RGB"), None
    # P, RGB with a tRNS colour key, RGBX/RGBa keep an RGB profile; grey profiles do not apply.
    keep_icc = rgb_icc if mode in ("P", "RGB", "RGBX", "RGBa") else None
    return image.convert("RGBA" if has_alpha else "RGB"), keep_icc


def fit_size(width: int, height: int, edge: int) -> tuple[int, int]:
    """Scale so the long edge is at most ``edge``, keeping the aspect ratio; never upscale."""
    long_edge = max(width, height)
    if long_edge <= edge:
        return width, height
    scale = edge / long_edge
    return max(1, round(width * scale)), max(1, round(height * scale))


def _fit(image: Image.Image, edge: int) -> Image.Image:
    """Downscale with LANCZOS (after a cheap reduce()) when larger than ``edge``."""
    size = fit_size(*image.size, edge)
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=_REDUCING_GAP)


def encode_webp(image: Image.Image, quality: int, icc: bytes | None) -> Rendition:
    """Lossy WebP with no EXIF/XMP; the ICC profile only when it is a non-default RGB one."""
    out = io.BytesIO()
    image.save(
        out,
        "WEBP",
        quality=quality,
        method=WEBP_METHOD,
        icc_profile=icc or b"",
        exif=b"",
        xmp="",
    )
    return Rendition(out.getvalue(), "image/webp", "webp", *image.size)


def blurhash_components(width: int, height: int) -> tuple[int, int]:
    """Pick (x, y) components by aspect ratio, each between 2 and 5."""
    ratio = width / height
    if ratio >= 2.5:
        return 5, 2
    if ratio > 1.2:
        return 4, 3
    if ratio <= 0.4:
        return 2, 5
    if ratio < 1 / 1.2:
        return 3, 4
    return 4, 4


def _encode_blurhash(rgb: Image.Image, x: int, y: int) -> str:
    """Call blurhash's C encoder on the raw RGB bytes.

    ``blurhash.encode`` builds a Python list of every pixel via ``Image.getdata``, which
    Pillow 13 deprecates and Pillow 14 removes; the C function it wraps takes the same
    bytes directly. The public function remains the fallback.
    """
    if _bh_lib is None or _bh_ffi is None:
        return blurhash.encode(rgb.copy(), x, y)
    width, height = rgb.size
    pixels = rgb.tobytes()
    destination = _bh_ffi.new("char[]", 2 + 4 + (9 * 9 - 1) * 2 + 1)
    result = _bh_lib.create_hash_from_pixels(
        x, y, width, height, _bh_ffi.from_buffer("uint8_t[]", pixels), width * 3, destination
    )
    if result == _bh_ffi.NULL:
        raise ValueError(f"invalid blurhash components {x}x{y}")
    return _bh_ffi.string(result).decode("ascii")


def compute_blurhash(image: Image.Image) -> str:
    """Blurhash of an upright RGB/RGBA image, computed on a <= 64 px box-filtered copy."""
    small = image.resize(fit_size(*image.size, BLURHASH_EDGE), Image.Resampling.BOX)
    if small.mode == "RGBA":
        flat = Image.new("RGB", small.size, _BLURHASH_BACKGROUND)
        flat.paste(small, mask=small.getchannel("A"))
        small = flat
    elif small.mode != "RGB":
        small = small.convert("RGB")
    return _encode_blurhash(small, *blurhash_components(*image.size))


_helper: ThreadPoolExecutor | None = None
_helper_lock = threading.Lock()


def _helper_pool() -> ThreadPoolExecutor:
    """Helper threads beside the uploads' own (two uploads may run at once), made on
    first use."""
    global _helper
    with _helper_lock:
        if _helper is None:
            _helper = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tessera-media")
        return _helper


def _small_ones(thumbnail_image: Image.Image, icc: bytes | None) -> tuple[Rendition, str]:
    return encode_webp(thumbnail_image, THUMBNAIL_QUALITY, icc), compute_blurhash(thumbnail_image)


def make_derivatives(decoded: Decoded, orientation: int) -> tuple[Rendition, Rendition, str]:
    """Build (display, thumbnail, blurhash) from the decoded image and its orientation.

    The thumbnail's WebP and the blurhash are encoded in a helper thread while this one
    encodes the display WebP: Pillow's encoders release the GIL, and the display encode is
    most of an upload's time (measured on 1024x1024: display ~60%, thumbnail and blurhash
    ~25%), so on two cores a picture is ready about a quarter sooner. The two threads
    never touch the same image object (the thumbnail is resized from the display image
    before either encode starts)."""
    rgb, icc = to_rgb(decoded.image)
    display_image = apply_orientation(_fit(rgb, DISPLAY_EDGE), orientation)
    thumbnail_image = _fit(display_image, THUMBNAIL_EDGE)
    if thumbnail_image is display_image:  # already small: one object, so encode in turn
        thumbnail, hashed = _small_ones(thumbnail_image, icc)
        return encode_webp(display_image, DISPLAY_QUALITY, icc), thumbnail, hashed
    small = _helper_pool().submit(_small_ones, thumbnail_image, icc)
    display = encode_webp(display_image, DISPLAY_QUALITY, icc)
    thumbnail, hashed = small.result()
    return display, thumbnail, hashed
