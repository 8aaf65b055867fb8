"""Post use cases: publish, edit, delete, like, boost.

Publishing follows DESIGN.md's order: images are processed off the event loop, their
files written (by content hash) before any row, then every row goes in one transaction.
If anything fails after files were written, the files this call created are removed, so
a refused or failed post leaves nothing behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete as sa_delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from federation.content import extract_hashtags
from media.models import MediaLimits, ProcessedImage
from services import federate
from services import mentions as mentioning
from services.context import Services
from services.generation import prompt_and_model
from storage import home_feed
from storage import mention_queries as mq
from storage import posts as q
from storage.ids import new_id
from storage.models import (
    Actor,
    Boost,
    Hashtag,
    Like,
    MediaAttachment,
    Post,
    PostHashtag,
    Tombstone,
)
from tessera.errors import Forbidden, InvalidInput, MediaError, NotFound

VISIBILITIES = ("public", "unlisted", "followers")
MAX_CAPTION = 5000
MAX_CW = 500
MAX_PROMPT = 5000


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str = ""
    description: str = ""
    focus: tuple[float, float] | None = None


@dataclass(frozen=True)
class PostFields:
    caption: str = ""
    content_warning: str = ""
    sensitive: bool = False
    visibility: str = "public"
    prompt: str = ""
    model_name: str = ""


def _check_fields(fields: PostFields) -> PostFields:
    if fields.visibility not in VISIBILITIES:
        raise InvalidInput("Visibility must be public, unlisted or followers.")
    if len(fields.caption) > MAX_CAPTION:
        raise InvalidInput(f"The caption is longer than {MAX_CAPTION} characters.")
    if len(fields.content_warning) > MAX_CW:
        raise InvalidInput(f"The content warning is longer than {MAX_CW} characters.")
    if len(fields.prompt) > MAX_PROMPT:
        raise InvalidInput(f"The prompt is longer than {MAX_PROMPT} characters.")
    if len(fields.model_name) > 255:
        raise InvalidInput("The model name is longer than 255 characters.")
    return fields


def _check_focus(focus: tuple[float, float] | None) -> None:
    if focus is not None and not all(-1.0 <= v <= 1.0 for v in focus):
        raise InvalidInput("A focal point must be two numbers between -1 and 1.")


def _check_alts(services: Services, texts: Iterable[str]) -> None:
    limit = services.config.media.max_alt_text
    if any(len(text) > limit for text in texts):
        raise InvalidInput(f"Alt text is limited to {limit} characters.")


async def process_upload(services: Services, upload: Upload, index: int) -> ProcessedImage:
    """Run the pure pipeline in a worker thread, bounded by the media slots."""
    from media.pipeline import process_image  # Pillow's plugins load with the first image

    limits = MediaLimits(
        max_bytes=services.config.media.max_upload_bytes,
        max_pixels=services.config.media.max_pixels,
    )
    async with services.media_slots:
        try:
            return await asyncio.to_thread(process_image, upload.data, limits)
        except MediaError as exc:
            label = f"Image {index + 1}" + (f" ({upload.filename})" if upload.filename else "")
            raise MediaError(f"{label}: {exc.public}") from None


class BlobBatch:
    """The files one call wrote, so they can be removed if its rows never commit."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.created: list[str] = []

    def put(self, data: bytes, ext: str) -> str:
        from storage.blobs import blob_key

        key = blob_key(data, ext)
        existed = self.services.blobs.exists(key)
        self.services.blobs.put(data, ext)
        if not existed:
            self.created.append(key)
        return key

    async def discard(self) -> None:
        async with self.services.db.session() as session:
            for key in self.created:
                if not await q.blob_is_referenced(session, key):
                    self.services.blobs.delete(key)


def attachment_from(
    processed: ProcessedImage, batch: BlobBatch, *, actor_id: int, upload: Upload
) -> MediaAttachment:
    gen = processed.generation
    return MediaAttachment(
        id=new_id(),
        actor_id=actor_id,
        original_key=batch.put(processed.original.data, processed.original.ext),
        original_mime=processed.original.mime,
        original_size=len(processed.original.data),
        display_key=batch.put(processed.display.data, processed.display.ext),
        thumb_key=batch.put(processed.thumbnail.data, processed.thumbnail.ext),
        width=processed.width,
        height=processed.height,
        display_width=processed.display.width,
        display_height=processed.display.height,
        thumb_width=processed.thumbnail.width,
        thumb_height=processed.thumbnail.height,
        blurhash=processed.blurhash,
        description=upload.description,
        focal_x=upload.focus[0] if upload.focus else None,
        focal_y=upload.focus[1] if upload.focus else None,
        source_format=processed.format,
        a1111_parameters=gen.a1111_parameters,
        comfy_prompt=gen.comfy_prompt,
        comfy_workflow=gen.comfy_workflow,
        c2pa_present=gen.c2pa_present,
        generator_software=gen.software,
    )


async def _set_tags(session: AsyncSession, post: Post, caption: str) -> None:
    await session.exec(sa_delete(PostHashtag).where(col(PostHashtag.post_id) == post.id))  # type: ignore[call-overload]
    for name in extract_hashtags(caption)[:30]:
        tag = await q.hashtag_by_name(session, name)
        if tag is None:
            tag = Hashtag(id=new_id(), name=name.lower(), display_name=name)
            session.add(tag)
            await session.flush()
        session.add(PostHashtag(post_id=post.id, hashtag_id=tag.id))


async def create_post(
    services: Services,
    author: Actor,
    uploads: Sequence[Upload],
    fields: PostFields,
    *,
    in_reply_to: Post | None = None,
) -> Post:
    """Publish a post with 1..max_attachments images (a reply may have none)."""
    fields = _check_fields(fields)
    limit = services.config.media.max_attachments
    if not uploads and in_reply_to is None:
        raise InvalidInput("A post needs at least one image.")
    if len(uploads) > limit:
        raise InvalidInput(f"A post can have at most {limit} images; you sent {len(uploads)}.")
    if not uploads and not fields.caption.strip():
        raise InvalidInput("The reply is empty.")
    _check_alts(services, [u.description for u in uploads])
    for upload in uploads:
        _check_focus(upload.focus)
    processed = [await process_upload(services, u, i) for i, u in enumerate(uploads)]
    prompt, model_name = fields.prompt.strip(), fields.model_name.strip()
    if processed and not (prompt or model_name):
        prompt, model_name = prompt_and_model(processed[0].generation.a1111_parameters)
    resolved = await mentioning.resolve_mentions(services, fields.caption)
    batch = BlobBatch(services)
    try:
        attachments = [
            attachment_from(p, batch, actor_id=author.id, upload=u)
            for p, u in zip(processed, uploads, strict=True)
        ]
        async with services.db.transaction() as session:
            post = await insert_post(
                session,
                services,
                author,
                fields,
                attachments,
                in_reply_to=in_reply_to,
                prompt=prompt,
                model_name=model_name,
                mentions=resolved,
            )
        return post
    except BaseException:
        await batch.discard()
        raise


async def insert_post(
    session: AsyncSession,
    services: Services,
    author: Actor,
    fields: PostFields,
    attachments: Sequence[MediaAttachment],
    *,
    in_reply_to: Post | None,
    prompt: str,
    model_name: str,
    language: str | None = None,
    mentions: mentioning.Resolved | None = None,
) -> Post:
    """The rows of a new post (images in order, tags, mentions, the parent's reply count)
    and its federation, in the caller's transaction; the web form and the client API both
    publish through here. ``mentions`` comes from ``mentions.resolve_mentions`` (run before
    the transaction); without it only handles known locally are linked (no network)."""
    urls = services.urls
    if mentions is None:
        mentions = await mentioning.known_mentions(services, session, fields.caption)
    post_id = new_id()
    post = Post(
        id=post_id,
        actor_id=author.id,
        ap_id=urls.post_id(author.username, post_id),
        url=urls.post_page(author.username, post_id),
        local=True,
        visibility=fields.visibility,
        caption_source=fields.caption,
        content_html=mentioning.render(services, fields.caption, mentions),
        content_warning=fields.content_warning.strip(),
        sensitive=fields.sensitive or bool(fields.content_warning.strip()),
        language=language,
        prompt=prompt,
        model_name=model_name,
        in_reply_to_id=in_reply_to.id if in_reply_to else None,
        in_reply_to_ap_id=in_reply_to.ap_id if in_reply_to else None,
        created_at=services.clock(),
    )
    session.add(post)
    await session.flush()
    for position, media in enumerate(attachments):
        media.post_id = post.id
        media.position = position
        session.add(media)
    await _set_tags(session, post, fields.caption)
    await mq.replace_mentions(session, post.id, mentioning.mentioned(mentions))
    await q.count_reply(session, post, +1)
    await home_feed.add_post(session, post)
    await federate.post_created(services, session, author, post)
    return post


async def _own_post(session: AsyncSession, post_id: int, actor: Actor) -> Post:
    post = await session.get(Post, post_id)
    if post is None:
        raise NotFound("No such post.")
    if post.actor_id != actor.id:
        raise Forbidden("This is not your post.")
    return post


async def edit_post(
    services: Services,
    actor: Actor,
    post_id: int,
    fields: PostFields,
    descriptions: dict[int, str],
) -> Post:
    """Change the caption, warnings, prompt/model and alt texts (images stay); mentions
    are resolved again from the new caption."""
    fields = _check_fields(fields)
    _check_alts(services, descriptions.values())
    resolved = await mentioning.resolve_mentions(services, fields.caption)
    async with services.db.transaction() as session:
        post = await _own_post(session, post_id, actor)
        post.caption_source = fields.caption
        post.content_html = mentioning.render(services, fields.caption, resolved)
        post.content_warning = fields.content_warning.strip()
        post.sensitive = fields.sensitive or bool(post.content_warning)
        counted = q.counts_as_reply(post)
        post.visibility = fields.visibility
        if post.in_reply_to_id is not None and q.counts_as_reply(post) != counted:
            # the parent counts public and unlisted replies only: keep it true to them
            await q.add_to_replies_count(session, post.in_reply_to_id, -1 if counted else 1)
        post.prompt = fields.prompt.strip()
        post.model_name = fields.model_name.strip()
        post.edited_at = services.clock()
        session.add(post)
        media = await q.attachments_for(session, [post.id])
        for item in media.get(post.id, []):
            if item.id in descriptions:
                item.description = descriptions[item.id]
                session.add(item)
        await _set_tags(session, post, fields.caption)
        added, removed = await mq.replace_mentions(session, post.id, mentioning.mentioned(resolved))
        await federate.post_updated(
            services, session, actor, post, newly_mentioned=added, unmentioned=removed
        )
        return post


async def delete_post(
    services: Services, actor: Actor, post_id: int, *, admin: bool = False
) -> None:
    """Delete a post and its images; files no other row uses are removed after commit."""
    async with services.db.transaction() as session:
        post = await session.get(Post, post_id)
        if post is None:
            raise NotFound("No such post.")
        if post.actor_id != actor.id and not admin:
            raise Forbidden("This is not your post.")
        media = (await q.attachments_for(session, [post.id])).get(post.id, [])
        keys = {k for m in media for k in (m.original_key, m.display_key, m.thumb_key) if k}
        await q.count_reply(session, post, -1)
        if post.local:
            session.add(
                Tombstone(ap_id=post.ap_id, former_type="Note", deleted_at=services.clock())
            )
        await federate.post_deleted(services, session, post)
        for item in media:
            await session.delete(item)
        await session.delete(post)
    await collect_blobs(services, keys)


async def collect_blobs(services: Services, keys: set[str]) -> None:
    async with services.db.session() as session:
        for key in keys:
            if not await q.blob_is_referenced(session, key):
                services.blobs.delete(key)


async def _viewable(session: AsyncSession, post_id: int, actor: Actor) -> Post:
    post = await session.get(Post, post_id)
    if post is None or not await q.can_view(session, post, actor.id):
        raise NotFound("No such post.")
    return post


async def _set_reaction(
    services: Services, actor: Actor, post_id: int, model: type[Like] | type[Boost], on: bool
) -> Post:
    """Add or remove one like/boost row and keep the post's counter in the same transaction
    (idempotent: liking twice is one like)."""
    counter = "likes_count" if model is Like else "boosts_count"
    async with services.db.transaction() as session:
        post = await _viewable(session, post_id, actor)
        if on and model is Boost and post.visibility not in ("public", "unlisted"):
            raise Forbidden("Only public and unlisted posts can be boosted.")
        existing = (
            await session.exec(
                select(model).where(model.actor_id == actor.id, model.post_id == post.id)
            )
        ).first()
        row = existing
        if on and existing is None:
            row = model(
                id=new_id(), actor_id=actor.id, post_id=post.id, created_at=services.clock()
            )
            session.add(row)
            setattr(post, counter, getattr(post, counter) + 1)
        elif not on and existing is not None:
            await session.delete(existing)
            setattr(post, counter, max(0, getattr(post, counter) - 1))
        session.add(post)
        if on and existing is None and model is Boost:
            await home_feed.add_boost(session, actor.id, post.id)
        if row is not None and on != (existing is not None):
            await federate.reaction_changed(services, session, actor, post, row, on=on)
        return post


async def set_like(services: Services, actor: Actor, post_id: int, liked: bool) -> Post:
    return await _set_reaction(services, actor, post_id, Like, liked)


async def set_boost(services: Services, actor: Actor, post_id: int, boosted: bool) -> Post:
    return await _set_reaction(services, actor, post_id, Boost, boosted)
