"""Uploads that come before their post (the client API's ``POST /api/v2/media``).

An attachment row with ``post_id = None`` owned by the uploader is an unattached upload;
``services.api_posts`` attaches it when the status is published. Processing uses the same
pipeline and file handling as the web form (``services.posts``), synchronously: a still
image is ready by the time the upload answers, so the API returns 200 with its URLs.
Uploads left unattached for a day are removed (with their files) on the uploader's next
upload, as Mastodon does.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from services.context import Services
from services.posts import (
    BlobBatch,
    Upload,
    _check_focus,
    attachment_from,
    collect_blobs,
    process_upload,
)
from storage.models import Actor, MediaAttachment
from tessera.errors import InvalidInput, NotFound

STALE_AFTER = timedelta(days=1)


def _check_description(services: Services, description: str) -> None:
    limit = services.config.media.max_alt_text
    if len(description) > limit:
        raise InvalidInput(f"Alt text is limited to {limit} characters.")


def _keys(media: MediaAttachment) -> set[str]:
    return {k for k in (media.original_key, media.display_key, media.thumb_key) if k}


async def purge_stale_uploads(services: Services, actor_id: int) -> int:
    """Remove this person's uploads that were never attached; returns how many."""
    cutoff = services.clock() - STALE_AFTER
    keys: set[str] = set()
    async with services.db.transaction() as session:
        result = await session.exec(
            select(MediaAttachment).where(
                col(MediaAttachment.actor_id) == actor_id,
                col(MediaAttachment.post_id).is_(None),
                col(MediaAttachment.created_at) < cutoff,
            )
        )
        stale = list(result.all())
        for media in stale:
            keys |= _keys(media)
            await session.delete(media)
    if keys:
        await collect_blobs(services, keys)
    return len(stale)


async def upload_media(
    services: Services,
    actor: Actor,
    data: bytes,
    *,
    filename: str = "",
    description: str = "",
    focus: tuple[float, float] | None = None,
) -> MediaAttachment:
    """Process one image and store it as an unattached upload of ``actor``."""
    if not data:
        raise InvalidInput("The file is empty.")
    _check_description(services, description)
    _check_focus(focus)
    upload = Upload(data=data, filename=filename[:100], description=description, focus=focus)
    processed = await process_upload(services, upload, 0)
    await purge_stale_uploads(services, actor.id)
    batch = BlobBatch(services)
    try:
        media = attachment_from(processed, batch, actor_id=actor.id, upload=upload)
        media.post_id = None
        media.created_at = services.clock()
        async with services.db.transaction() as session:
            session.add(media)
    except BaseException:
        await batch.discard()
        raise
    return media


async def own_media(services: Services, actor: Actor, media_id: int) -> MediaAttachment:
    async with services.db.session() as session:
        media = await session.get(MediaAttachment, media_id)
    if media is None or media.actor_id != actor.id:
        raise NotFound("Record not found")
    return media


async def update_media(
    services: Services,
    actor: Actor,
    media_id: int,
    *,
    description: str | None = None,
    focus: tuple[float, float] | None = None,
) -> MediaAttachment:
    """Change an unattached upload's alt text or focal point (attached images are edited
    through their post)."""
    if description is not None:
        _check_description(services, description)
    _check_focus(focus)
    async with services.db.transaction() as session:
        media = await session.get(MediaAttachment, media_id)
        if media is None or media.actor_id != actor.id or media.post_id is not None:
            raise NotFound("Record not found")
        if description is not None:
            media.description = description
        if focus is not None:
            media.focal_x, media.focal_y = focus
        session.add(media)
        return media


async def delete_media(services: Services, actor: Actor, media_id: int) -> None:
    """Delete an unattached upload and the files no other row uses."""
    async with services.db.transaction() as session:
        media = await session.get(MediaAttachment, media_id)
        if media is None or media.actor_id != actor.id or media.post_id is not None:
            raise NotFound("Record not found")
        keys = _keys(media)
        await session.delete(media)
    await collect_blobs(services, keys)
