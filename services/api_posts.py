"""Publishing and editing from the client API, on the same code path as the web form.

A Mastodon client uploads images first (``services.media``) and then posts a status with
their ids. :func:`create_post_from_media` attaches those rows and publishes through
``services.posts.insert_post`` in one transaction, so the post, its images, its tags and
its ``Create`` activity commit together, exactly as a post from the web form does.
An ``Idempotency-Key`` is stored in the same transaction (its primary key makes a racing
duplicate fail and roll back), so a retried request returns the first status.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from services import mentions as mentioning
from services import posts
from services.context import Services
from services.generation import prompt_and_model
from services.posts import PostFields
from storage import api_batch as b
from storage import posts as q
from storage.ids import new_id
from storage.models import Actor, MediaAttachment, Post
from storage.oauth_models import Bookmark, IdempotencyKey
from tessera.errors import InvalidInput, NotFound

IDEMPOTENCY_TTL = timedelta(hours=1)


async def _replayed(
    session: AsyncSession, services: Services, actor_id: int, key: str
) -> Post | None:
    row = await b.idempotent_post(session, actor_id, key)
    if row is None:
        return None
    if row.created_at < services.clock() - IDEMPOTENCY_TTL:
        await session.delete(row)
        await session.flush()
        return None
    return await session.get(Post, row.post_id)


async def _attachable(
    session: AsyncSession, author: Actor, media_ids: Sequence[int]
) -> list[MediaAttachment]:
    rows = []
    for media_id in media_ids:
        media = await session.get(MediaAttachment, media_id)
        if media is None or media.actor_id != author.id:
            raise InvalidInput(f"Media {media_id} is not an upload of yours.")
        if media.post_id is not None:
            raise InvalidInput(f"Media {media_id} is already attached to a post.")
        rows.append(media)
    return rows


async def create_post_from_media(
    services: Services,
    author: Actor,
    media_ids: Sequence[int],
    fields: PostFields,
    *,
    in_reply_to: Post | None = None,
    language: str | None = None,
    idempotency_key: str | None = None,
) -> Post:
    """Publish a status whose images were uploaded beforehand (by id, in order)."""
    fields = posts._check_fields(fields)
    limit = services.config.media.max_attachments
    if len(set(media_ids)) != len(media_ids):
        raise InvalidInput("media_ids lists the same image twice.")
    if len(media_ids) > limit:
        raise InvalidInput(f"A post can have at most {limit} images; you sent {len(media_ids)}.")
    if not media_ids and in_reply_to is None:
        raise InvalidInput("A post needs at least one image.")
    if not media_ids and not fields.caption.strip():
        raise InvalidInput("The reply is empty.")
    if language is not None and not (
        1 <= len(language) <= 16 and language.replace("-", "").isalnum()
    ):
        raise InvalidInput("language must be an ISO 639 language code.")
    resolved = await mentioning.resolve_mentions(services, fields.caption)
    try:
        async with services.db.transaction() as session:
            if idempotency_key:
                earlier = await _replayed(session, services, author.id, idempotency_key)
                if earlier is not None:
                    return earlier
            attachments = await _attachable(session, author, media_ids)
            prompt, model_name = fields.prompt.strip(), fields.model_name.strip()
            if attachments and not (prompt or model_name):
                prompt, model_name = prompt_and_model(attachments[0].a1111_parameters)
            parent = None
            if in_reply_to is not None:
                parent = await session.get(Post, in_reply_to.id)
                if parent is None or not await q.can_view(session, parent, author.id):
                    raise NotFound("Record not found")
            post = await posts.insert_post(
                session,
                services,
                author,
                fields,
                attachments,
                in_reply_to=parent,
                prompt=prompt,
                model_name=model_name,
                language=language,
                mentions=resolved,
            )
            if idempotency_key:
                session.add(
                    IdempotencyKey(
                        actor_id=author.id,
                        key=idempotency_key,
                        post_id=post.id,
                        created_at=services.clock(),
                    )
                )
            return post
    except IntegrityError:
        if not idempotency_key:
            raise
        async with services.db.session() as session:  # a concurrent twin won the race
            earlier = await _replayed(session, services, author.id, idempotency_key)
        if earlier is None:
            raise
        return earlier


@dataclass(frozen=True)
class StatusEdit:
    caption: str
    content_warning: str
    sensitive: bool
    media_ids: list[int] | None = None
    descriptions: dict[int, str] | None = None


async def edit_status(services: Services, actor: Actor, post_id: int, edit: StatusEdit) -> Post:
    """``PUT /api/v1/statuses/:id``: caption, content warning, sensitivity and alt texts
    through ``services.posts.edit_post`` (visibility, prompt and model stay as they are).
    Images cannot be swapped on a published post; asking to is a 422."""
    async with services.db.session() as session:
        post = await session.get(Post, post_id)
        if post is None or post.actor_id != actor.id:
            raise NotFound("Record not found")
        current = [m.id for m in (await q.attachments_for(session, [post.id])).get(post.id, [])]
    if edit.media_ids is not None and edit.media_ids != current:
        raise InvalidInput(
            "The images of a published post cannot be added, removed or reordered; "
            "edit its text and alt texts instead."
        )
    descriptions = {k: v for k, v in (edit.descriptions or {}).items() if k in current}
    fields = PostFields(
        caption=edit.caption,
        content_warning=edit.content_warning,
        sensitive=edit.sensitive,
        visibility=post.visibility,
        prompt=post.prompt,
        model_name=post.model_name,
    )
    return await posts.edit_post(services, actor, post_id, fields, descriptions)


async def set_bookmark(services: Services, actor: Actor, post_id: int, on: bool) -> Post:
    """Bookmark a post the actor can see (idempotent both ways)."""
    async with services.db.transaction() as session:
        post = await session.get(Post, post_id)
        if post is None or not await q.can_view(session, post, actor.id):
            raise NotFound("Record not found")
        existing = (await b.bookmarked(session, actor.id, [post.id])) != set()
        if on and not existing:
            session.add(
                Bookmark(
                    id=new_id(), actor_id=actor.id, post_id=post.id, created_at=services.clock()
                )
            )
        elif not on and existing:
            await b.delete_bookmark(session, actor.id, post.id)
        return post
