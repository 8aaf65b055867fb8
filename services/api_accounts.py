"""Profile edits from the client API (``PATCH /api/v1/accounts/update_credentials``).

The display name, bio, avatar and "approve followers" switch go through the same
``services.accounts.update_profile`` the settings page uses; what that page does not edit
yet (the header image, profile fields, the bot and discoverable flags) is written here.
Every value is validated before anything is stored, images are processed and written
first, and files this call wrote are removed again if the rows do not commit.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import delete as sa_delete
from sqlmodel import col

from services import accounts
from services.context import Services
from services.posts import BlobBatch, Upload, collect_blobs, process_upload
from storage.models import Actor
from storage.oauth_models import ProfileField
from tessera.errors import InvalidInput, NotFound

MAX_FIELDS = 4
MAX_FIELD_NAME = 255
MAX_FIELD_VALUE = 255


@dataclass(frozen=True)
class ProfileChanges:
    display_name: str | None = None
    note: str | None = None
    locked: bool | None = None
    bot: bool | None = None
    discoverable: bool | None = None
    avatar: bytes | None = None
    header: bytes | None = None
    fields: list[tuple[str, str]] | None = None


def _check(changes: ProfileChanges) -> list[tuple[str, str]] | None:
    if changes.display_name is not None and len(changes.display_name.strip()) > 100:
        raise InvalidInput("Display name must be at most 100 characters.")
    if changes.note is not None and len(changes.note) > 2000:
        raise InvalidInput("Bio must be at most 2000 characters.")
    if changes.fields is None:
        return None
    kept = [(n.strip(), v.strip()) for n, v in changes.fields if n.strip() or v.strip()]
    if len(kept) > MAX_FIELDS:
        raise InvalidInput(f"A profile has at most {MAX_FIELDS} fields.")
    for name, value in kept:
        if not name:
            raise InvalidInput("Every profile field needs a name.")
        if len(name) > MAX_FIELD_NAME or len(value) > MAX_FIELD_VALUE:
            raise InvalidInput(
                f"Profile field names and values are limited to {MAX_FIELD_VALUE} characters."
            )
    return kept


async def update_credentials(services: Services, actor: Actor, changes: ProfileChanges) -> Actor:
    fields = _check(changes)
    batch = BlobBatch(services)
    old_keys: set[str] = set()
    try:
        avatar_key = header_key = None
        if changes.avatar:
            processed = await process_upload(services, Upload(changes.avatar, "avatar"), 0)
            avatar_key = await asyncio.to_thread(
                batch.put, processed.thumbnail.data, processed.thumbnail.ext
            )
        if changes.header:
            processed = await process_upload(services, Upload(changes.header, "header"), 0)
            header_key = await asyncio.to_thread(
                batch.put, processed.display.data, processed.display.ext
            )
        async with services.db.transaction() as session:
            row = await session.get(Actor, actor.id)
            if row is None:
                raise NotFound("No such account.")
            if header_key is not None and row.header_key != header_key:
                if row.header_key:
                    old_keys.add(row.header_key)
                row.header_key = header_key
            if avatar_key is not None and row.avatar_key and row.avatar_key != avatar_key:
                old_keys.add(row.avatar_key)
            if changes.bot is not None:
                row.actor_type = "Service" if changes.bot else "Person"
            if changes.discoverable is not None:
                row.discoverable = changes.discoverable
            session.add(row)
            if fields is not None:
                await session.exec(  # type: ignore[call-overload]
                    sa_delete(ProfileField).where(col(ProfileField.actor_id) == actor.id)
                )
                for position, (name, value) in enumerate(fields):
                    session.add(
                        ProfileField(actor_id=actor.id, position=position, name=name, value=value)
                    )
            current_name, current_bio = row.display_name, row.bio_source
        # Last, so that whatever it announces to other servers sees the final profile.
        updated = await accounts.update_profile(
            services,
            actor.id,
            display_name=changes.display_name if changes.display_name is not None else current_name,
            bio=changes.note if changes.note is not None else current_bio,
            avatar_key=avatar_key,
            locked=changes.locked,
        )
    except BaseException:
        await batch.discard()
        raise
    if old_keys:
        await collect_blobs(services, old_keys)
    return updated
