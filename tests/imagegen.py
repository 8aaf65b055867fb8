"""Real images made with Pillow for the tests (nothing binary is committed)."""

from __future__ import annotations

import io
import random

from PIL import Image, PngImagePlugin

A1111_PARAMETERS = (
    "a lighthouse on a cliff at dusk, volumetric light, highly detailed\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234567, Size: 640x480, "
    "Model hash: 31e35c80fc, Model: sd_xl_base_1.0"
)


def noisy_image(width: int, height: int, seed: int = 1, mode: str = "RGB") -> Image.Image:
    """An image with real detail (gradients and noise) so encoders do real work."""
    rnd = random.Random(seed)
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    overlay = Image.effect_noise((width, height), 40).convert("RGB")
    image = Image.blend(image, overlay, 0.35)
    tint = Image.new(
        "RGB", (width, height), (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
    )
    return Image.blend(image, tint, 0.4).convert(mode)


def png_bytes(
    width: int = 640, height: int = 480, *, seed: int = 1, parameters: str | None = None
) -> bytes:
    info = PngImagePlugin.PngInfo()
    if parameters is not None:
        info.add_text("parameters", parameters)
    out = io.BytesIO()
    noisy_image(width, height, seed).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def jpeg_with_gps(width: int = 800, height: int = 600, *, orientation: int = 1) -> bytes:
    """A JPEG carrying camera make/model and GPS coordinates in EXIF."""
    image = noisy_image(width, height, seed=7)
    exif = Image.Exif()
    exif[0x010F] = "SecretCameraMaker"  # Make
    exif[0x0110] = "Model X-Ray 9000"  # Model
    exif[0x0112] = orientation
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (48.0, 51.0, 29.0)
    gps[3] = "E"
    gps[4] = (2.0, 17.0, 40.0)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90, exif=exif)
    return out.getvalue()


def png_bomb() -> bytes:
    """A 10000x10000 PNG of ~100 KB: Pillow alone would only warn about it."""
    out = io.BytesIO()
    Image.new("1", (10000, 10000), 0).save(out, format="PNG", optimize=True)
    return out.getvalue()


def truncated_png() -> bytes:
    data = png_bytes(800, 600, seed=3)
    return data[: len(data) // 2]
