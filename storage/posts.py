"""Named queries about posts, their images and tags.

Every list is a cursor page: ``max_id`` (exclusive) and a limit, newest first, so a page
costs the same however deep someone scrolls.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import and_, exists, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Actor,
    Boost,
    Follow,
    Hashtag,
    Like,
    MediaAttachment,
    Post,
    PostHashtag,
)


def _page(stmt, max_id: int | None, limit: int):  # type: ignore[no-untyped-def]
    if max_id is not None:
        stmt = stmt.where(col(Post.id) < max_id)
    return stmt.order_by(col(Post.id).desc()).limit(limit)


def _visible_to(viewer_id: int | None):  # type: ignore[no-untyped-def]
    """Public and unlisted for everyone; followers-only for the author and accepted followers."""
    clauses = [col(Post.visibility).in_(("public", "unlisted"))]
    if viewer_id is not None:
        clauses.append(col(Post.actor_id) == viewer_id)
        clauses.append(
            and_(
                col(Post.visibility) == "followers",
                exists().where(
                    col(Follow.follower_id) == viewer_id,
                    col(Follow.followee_id) == col(Post.actor_id),
                    col(Follow.state) == "accepted",
                ),
            )
        )
    return or_(*clauses)


async def local_gallery(
    session: AsyncSession, *, max_id: int | None, limit: int
) -> list[tuple[Post, Actor]]:
    """The instance's public gallery: public local posts (not replies)."""
    stmt = (
        select(Post, Actor)
        .join(Actor, col(Actor.id) == col(Post.actor_id))
        .where(
            col(Post.visibility) == "public",
            col(Post.local).is_(True),
            col(Post.in_reply_to_id).is_(None),
            col(Post.in_reply_to_ap_id).is_(None),
        )
    )
    return [(p, a) for p, a in (await session.exec(_page(stmt, max_id, limit))).all()]


async def by_actor(
    session: AsyncSession,
    actor_id: int,
    *,
    viewer_id: int | None,
    max_id: int | None,
    limit: int,
) -> list[tuple[Post, Actor]]:
    stmt = (
        select(Post, Actor)
        .join(Actor, col(Actor.id) == col(Post.actor_id))
        .where(col(Post.actor_id) == actor_id, _visible_to(viewer_id))
    )
    return [(p, a) for p, a in (await session.exec(_page(stmt, max_id, limit))).all()]


async def by_tag(
    session: AsyncSession, tag: str, *, max_id: int | None, limit: int
) -> list[tuple[Post, Actor]]:
    stmt = (
        select(Post, Actor)
        .join(PostHashtag, col(PostHashtag.post_id) == col(Post.id))
        .join(Hashtag, col(Hashtag.id) == col(PostHashtag.hashtag_id))
        .join(Actor, col(Actor.id) == col(Post.actor_id))
        .where(col(Hashtag.name) == tag.lower(), col(Post.visibility) == "public")
    )
    return [(p, a) for p, a in (await session.exec(_page(stmt, max_id, limit))).all()]


async def home(
    session: AsyncSession, viewer_id: int, *, max_id: int | None, limit: int
) -> list[tuple[Post, Actor]]:
    """The viewer's own posts and those of accounts they follow."""
    followed = select(Follow.followee_id).where(
        Follow.follower_id == viewer_id, Follow.state == "accepted"
    )
    stmt = (
        select(Post, Actor)
        .join(Actor, col(Actor.id) == col(Post.actor_id))
        .where(
            or_(col(Post.actor_id) == viewer_id, col(Post.actor_id).in_(followed)),
            _visible_to(viewer_id),
        )
    )
    return [(p, a) for p, a in (await session.exec(_page(stmt, max_id, limit))).all()]


async def post_with_author(session: AsyncSession, post_id: int) -> tuple[Post, Actor] | None:
    result = await session.exec(
        select(Post, Actor)
        .join(Actor, col(Actor.id) == col(Post.actor_id))
        .where(col(Post.id) == post_id)
    )
    row = result.first()
    return (row[0], row[1]) if row else None


async def can_view(session: AsyncSession, post: Post, viewer_id: int | None) -> bool:
    if post.visibility in ("public", "unlisted") or post.actor_id == viewer_id:
        return True
    if viewer_id is None or post.visibility != "followers":
        return False
    result = await session.exec(
        select(Follow.id).where(
            Follow.follower_id == viewer_id,
            Follow.followee_id == post.actor_id,
            Follow.state == "accepted",
        )
    )
    return result.first() is not None


async def attachments_for(
    session: AsyncSession, post_ids: Sequence[int]
) -> dict[int, list[MediaAttachment]]:
    if not post_ids:
        return {}
    result = await session.exec(
        select(MediaAttachment)
        .where(col(MediaAttachment.post_id).in_(list(post_ids)))
        .order_by(col(MediaAttachment.post_id), col(MediaAttachment.position))
    )
    grouped: dict[int, list[MediaAttachment]] = defaultdict(list)
    for media in result.all():
        assert media.post_id is not None
        grouped[media.post_id].append(media)
    return grouped


async def replies_to(
    session: AsyncSession, post_id: int, *, limit: int = 100
) -> list[tuple[Post, Actor]]:
    result = await session.exec(
        select(Post, Actor)
        .join(Actor, col(Actor.id) == col(Post.actor_id))
        .where(col(Post.in_reply_to_id) == post_id)
        .order_by(col(Post.id))
        .limit(limit)
    )
    return [(p, a) for p, a in result.all()]


async def interactions_of(
    session: AsyncSession, viewer_id: int, post_ids: Sequence[int]
) -> tuple[set[int], set[int]]:
    """Which of these posts the viewer has liked, and which boosted."""
    if not post_ids:
        return set(), set()
    liked = await session.exec(
        select(Like.post_id).where(Like.actor_id == viewer_id, col(Like.post_id).in_(post_ids))
    )
    boosted = await session.exec(
        select(Boost.post_id).where(Boost.actor_id == viewer_id, col(Boost.post_id).in_(post_ids))
    )
    return set(liked.all()), set(boosted.all())


async def hashtag_by_name(session: AsyncSession, name: str) -> Hashtag | None:
    return (await session.exec(select(Hashtag).where(Hashtag.name == name.lower()))).first()


async def tags_of(session: AsyncSession, post_id: int) -> list[Hashtag]:
    result = await session.exec(
        select(Hashtag)
        .join(PostHashtag, col(PostHashtag.hashtag_id) == col(Hashtag.id))
        .where(col(PostHashtag.post_id) == post_id)
    )
    return list(result.all())


async def blob_is_referenced(session: AsyncSession, key: str) -> bool:
    """Whether any row still points at this blob (images, avatars, headers)."""
    media = await session.exec(
        select(MediaAttachment.id)
        .where(
            or_(
                col(MediaAttachment.original_key) == key,
                col(MediaAttachment.display_key) == key,
                col(MediaAttachment.thumb_key) == key,
            )
        )
        .limit(1)
    )
    if media.first() is not None:
        return True
    actors = await session.exec(
        select(Actor.id)
        .where(or_(col(Actor.avatar_key) == key, col(Actor.header_key) == key))
        .limit(1)
    )
    return actors.first() is not None
