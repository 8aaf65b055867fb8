"""Plain value types the media pipeline returns (re-exported by ``media.pipeline``).

They live in their own module so the strip/derivative modules can build them without
importing the pipeline entry point (which imports them), and so nothing here touches Pillow:
the web and storage layers can type against these without pulling in an image library.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rendition:
    """One stored file: its bytes and what a browser needs to serve it (mime, size)."""

    data: bytes
    mime: str
    ext: str
    width: int
    height: int


@dataclass(frozen=True)
class GenerationMetadata:
    """What the generating tool embedded, read before the metadata is stripped.

    The texts are kept raw (capped at 64 KiB each) because parsing A1111 or ComfyUI formats
    is a presentation concern that will change more often than the upload path.
    """

    a1111_parameters: str | None
    comfy_prompt: str | None
    comfy_workflow: str | None
    c2pa_present: bool
    software: str | None


@dataclass(frozen=True)
class ProcessedImage:
    """Everything the gallery stores for one upload; only these bytes ever reach storage."""

    format: str
    original: Rendition
    display: Rendition
    thumbnail: Rendition
    width: int
    height: int
    blurhash: str
    generation: GenerationMetadata


@dataclass(frozen=True)
class MediaLimits:
    """Upload limits, checked in order: bytes, then pixels and frames from the header."""

    max_bytes: int = 16 * 1024 * 1024
    max_pixels: int = 33_177_600
    max_frames: int = 1
