"""Copies of remote images: fetched once, processed like uploads, served from our blobs.

Pages never hot-link another server's files: that would tell it who looks at what (a
privacy leak Mastodon also avoids) and break when it goes away. A remote attachment is
fetched through the one transport (SSRF guard, total deadline, a size cap equal to our own
upload cap), run through the same pure media pipeline as an upload (format sniffed from
bytes, pixel limits, metadata stripped, derivatives and blurhash made) in a worker thread,
and stored by content hash - files first, rows later, as for uploads.

When that fails (the file is gone, too big, not an image we accept, a video), the
attachment row is kept with ``remote_url`` only and no blob keys. That row is the
"not available" marker: the web's media view sees no keys and shows the static
placeholder instead of the remote URL, while the sender's blurhash, size and alt text
still describe what is missing (each checked first: ``federation.parse`` drops a size
or blurhash that is not sane and keeps a focal point inside the image, and
``declared_size`` drops a size larger than we would accept in an image). The layering
keeps ``services`` out of reach here, so this module calls ``media.pipeline.process_image``
with the same limits and semaphore ``services.posts.process_upload`` uses.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from federation.handlers.base import InboxServices
from federation.parse import ParsedAttachment
from federation.transport import FetchError
from media.models import MediaLimits, ProcessedImage
from storage import posts as post_queries
from storage.blobs import blob_key
from storage.ids import new_id
from storage.models import MediaAttachment
from tessera.errors import MediaError

log = logging.getLogger(__name__)

IMAGE_ACCEPT = "image/avif,image/webp,image/png,image/jpeg,image/gif;q=0.9,*/*;q=0.5"


class RemoteMediaBatch:
    """Remote images copied for one activity, so their files can be removed again when the
    rows that would reference them never commit (as ``services.posts.BlobBatch``)."""

    def __init__(self, services: InboxServices) -> None:
        self.services = services
        self.created: list[str] = []

    def _put(self, data: bytes, ext: str) -> str:
        key = blob_key(data, ext)
        existed = self.services.blobs.exists(key)
        self.services.blobs.put(data, ext)
        if not existed:
            self.created.append(key)
        return key

    async def _process(self, data: bytes) -> ProcessedImage:
        from media.pipeline import process_image  # Pillow's plugins load with the first image

        limits = MediaLimits(
            max_bytes=self.services.config.media.max_upload_bytes,
            max_pixels=self.services.config.media.max_pixels,
        )
        async with self.services.media_slots:
            return await asyncio.to_thread(process_image, data, limits)

    async def fetch(
        self, parsed: ParsedAttachment, *, actor_id: int, position: int
    ) -> MediaAttachment:
        """A ``MediaAttachment`` for ``parsed`` (not added to any session): with local files
        when the image could be fetched and processed, else a remote-only placeholder row."""
        width, height = declared_size(parsed, self.services.config.media.max_pixels)
        row = MediaAttachment(
            id=new_id(),
            actor_id=actor_id,
            position=position,
            media_type=parsed.kind if parsed.kind != "unknown" else "image",
            original_mime=parsed.media_type[:64],
            width=width,
            height=height,
            blurhash=parsed.blurhash,
            description=parsed.alt,
            focal_x=parsed.focal_point[0] if parsed.focal_point else None,
            focal_y=parsed.focal_point[1] if parsed.focal_point else None,
            remote_url=parsed.url,
        )
        if parsed.kind not in ("image", "unknown"):
            return row  # videos and audio are not copied (yet): placeholder only
        try:
            fetched = await self.services.transport.get_bytes(
                parsed.url,
                signer=None,
                max_bytes=self.services.config.media.max_upload_bytes,
                accept=IMAGE_ACCEPT,
            )
            processed = await self._process(fetched.data)
        except (FetchError, MediaError) as exc:
            log.info("remote image %s not copied: %s", parsed.url, exc)
            return row
        gen = processed.generation
        row.media_type = "image"
        row.original_key = self._put(processed.original.data, processed.original.ext)
        row.original_mime = processed.original.mime
        row.original_size = len(processed.original.data)
        row.display_key = self._put(processed.display.data, processed.display.ext)
        row.thumb_key = self._put(processed.thumbnail.data, processed.thumbnail.ext)
        row.width, row.height = processed.width, processed.height
        row.display_width, row.display_height = processed.display.width, processed.display.height
        row.thumb_width, row.thumb_height = processed.thumbnail.width, processed.thumbnail.height
        row.blurhash = processed.blurhash
        row.source_format = processed.format
        row.a1111_parameters = gen.a1111_parameters
        row.comfy_prompt = gen.comfy_prompt
        row.comfy_workflow = gen.comfy_workflow
        row.c2pa_present = gen.c2pa_present
        row.generator_software = gen.software
        return row

    async def fetch_all(
        self, attachments: Iterable[ParsedAttachment], *, actor_id: int, limit: int
    ) -> list[MediaAttachment]:
        """Up to ``limit`` attachments, in order (positions 0..n-1)."""
        rows = []
        for position, parsed in enumerate(list(attachments)[:limit]):
            rows.append(await self.fetch(parsed, actor_id=actor_id, position=position))
        return rows

    async def discard(self) -> None:
        """Remove the files this batch created that no committed row references."""
        await release_blobs(self.services, set(self.created))
        self.created.clear()


def declared_size(parsed: ParsedAttachment, max_pixels: int) -> tuple[int, int]:
    """The width and height a placeholder row takes on the sender's word: both sides (each
    already a sane number, ``federation.parse``) with no more pixels than an image we would
    accept (``media.max_pixels``), else (0, 0), "unknown". One side alone would make a
    zero or made-up aspect ratio; a copied image's own size replaces these."""
    width, height = parsed.width, parsed.height
    if width is None or height is None or width * height > max_pixels:
        return 0, 0
    return width, height


def blob_keys(media: Iterable[MediaAttachment]) -> set[str]:
    """Every blob an attachment list uses (to release after its rows are deleted)."""
    return {k for m in media for k in (m.original_key, m.display_key, m.thumb_key) if k}


async def release_blobs(services: InboxServices, keys: set[str]) -> None:
    """Delete the blobs no row references any more (run after the deleting commit)."""
    if not keys:
        return
    async with services.db.session() as session:
        for key in sorted(keys):
            if not await post_queries.blob_is_referenced(session, key):
                services.blobs.delete(key)
