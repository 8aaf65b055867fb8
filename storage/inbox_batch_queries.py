"""Set-based queries behind processing a batch of stored activities at once
(``federation.inbox_batch``).

Why a module of its own: ``storage.inbox_queries`` answers one activity's questions, one
statement each. Processing spent most of an activity's time in the execution path of each
small statement (~150-300 µs in SQLAlchemy and the hand-off to SQLite's thread, against
20-35 µs of SQLite), about ten an activity. Here each question is asked once for a whole
batch (``IN`` lists), and each kind of row is written by one ``executemany``, so a batch of
a hundred Likes and replies costs about a dozen statements instead of a thousand.

Every statement is built once with bound parameters; expanding ``IN`` lists keep one
cache entry per statement whatever the batch's size.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, insert, or_, select
from sqlalchemy import update as sa_update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.federation_models import Block, Mention
from storage.ids import new_id
from storage.in_lists import padded
from storage.models import Actor, Follow, Hashtag, Like, Post, PostHashtag
from storage.posts import unindexed

_ACTOR = Actor.__table__  # type: ignore[attr-defined]
_POST = Post.__table__  # type: ignore[attr-defined]
_LIKE = Like.__table__  # type: ignore[attr-defined]
_BLOCK = Block.__table__  # type: ignore[attr-defined]
_FOLLOW = Follow.__table__  # type: ignore[attr-defined]
_HASHTAG = Hashtag.__table__  # type: ignore[attr-defined]
_POST_HASHTAG = PostHashtag.__table__  # type: ignore[attr-defined]
_MENTION = Mention.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ActorFacts:
    """What a batch needs to know of a sender: plain values, no ORM row."""

    id: int
    ap_id: str
    domain: str | None
    suspended: bool
    followers_url: str | None
    fetched_at: datetime | None


@dataclass(frozen=True)
class PostFacts:
    """What a batch needs to know of a post an activity names."""

    id: int
    ap_id: str
    actor_id: int
    local: bool
    visibility: str


_ACTORS = select(
    _ACTOR.c.id,
    _ACTOR.c.ap_id,
    _ACTOR.c.domain,
    _ACTOR.c.suspended,
    _ACTOR.c.followers_url,
    _ACTOR.c.fetched_at,
).where(_ACTOR.c.ap_id.in_(bindparam("ap_ids", expanding=True)))


async def actors_by_ap_ids(session: AsyncSession, ap_ids: Iterable[str]) -> dict[str, ActorFacts]:
    wanted = sorted(set(ap_ids))
    if not wanted:
        return {}
    result = await session.exec(_ACTORS, params={"ap_ids": padded(wanted)})  # type: ignore[call-overload]
    return {row.ap_id: ActorFacts(*row) for row in result.all()}


_POSTS = select(
    _POST.c.id, _POST.c.ap_id, _POST.c.actor_id, _POST.c.local, _POST.c.visibility
).where(_POST.c.ap_id.in_(bindparam("ap_ids", expanding=True)))


async def posts_by_ap_ids(session: AsyncSession, ap_ids: Iterable[str]) -> dict[str, PostFacts]:
    """Posts by ActivityPub id only (a ``url`` reference is left to the single path)."""
    wanted = sorted(set(ap_ids))
    if not wanted:
        return {}
    result = await session.exec(_POSTS, params={"ap_ids": padded(wanted)})  # type: ignore[call-overload]
    return {row.ap_id: PostFacts(*row) for row in result.all()}


_BLOCK_PAIRS = select(_BLOCK.c.actor_id, _BLOCK.c.target_id).where(
    _BLOCK.c.actor_id.in_(bindparam("blockers", expanding=True)),
    _BLOCK.c.target_id.in_(bindparam("targets", expanding=True)),
)


async def block_pairs(
    session: AsyncSession, blockers: Iterable[int], targets: Iterable[int]
) -> set[tuple[int, int]]:
    """(blocker, blocked) for every block by one of ``blockers`` of one of ``targets``."""
    wanted_blockers, wanted_targets = sorted(set(blockers)), sorted(set(targets))
    if not wanted_blockers or not wanted_targets:
        return set()
    result = await session.exec(  # type: ignore[call-overload]
        _BLOCK_PAIRS,
        params={"blockers": padded(wanted_blockers), "targets": padded(wanted_targets)},
    )
    return {(row[0], row[1]) for row in result.all()}


_FOLLOWED = (
    select(_FOLLOW.c.followee_id)
    .join(_ACTOR, _ACTOR.c.id == _FOLLOW.c.follower_id)
    .where(
        _FOLLOW.c.followee_id.in_(bindparam("ids", expanding=True)),
        _FOLLOW.c.state == "accepted",
        # a filter only: given a long IN list SQLite would otherwise walk every local
        # account's follows through ix_actor_domain (35 ms at 1,000 accounts, not 0.1)
        unindexed(_ACTOR.c.domain).is_(None),
    )
    .distinct()
)


async def with_local_followers(session: AsyncSession, actor_ids: Iterable[int]) -> set[int]:
    """Which of ``actor_ids`` some local account follows (accepted follows only)."""
    wanted = sorted(set(actor_ids))
    if not wanted:
        return set()
    result = await session.exec(_FOLLOWED, params={"ids": padded(wanted)})  # type: ignore[call-overload]
    return {row[0] for row in result.all()}


_LIKES_LIKE = select(_LIKE.c.actor_id, _LIKE.c.post_id, _LIKE.c.ap_id).where(
    or_(
        _LIKE.c.ap_id.in_(bindparam("ap_ids", expanding=True)),
        and_(
            _LIKE.c.actor_id.in_(bindparam("actor_ids", expanding=True)),
            _LIKE.c.post_id.in_(bindparam("post_ids", expanding=True)),
        ),
    )
)


async def existing_likes(
    session: AsyncSession, actor_ids: Iterable[int], post_ids: Iterable[int], ap_ids: Iterable[str]
) -> tuple[set[tuple[int, int]], set[str]]:
    """The likes a batch of new ones could repeat: (actor, post) pairs among the batch's
    actors and posts, and the ids among ``ap_ids`` already taken."""
    params = {
        "ap_ids": padded(sorted(set(ap_ids))),
        "actor_ids": padded(sorted(set(actor_ids))),
        "post_ids": padded(sorted(set(post_ids))),
    }
    if not params["actor_ids"] or not params["post_ids"]:
        return set(), set()
    result = await session.exec(_LIKES_LIKE, params=params)  # type: ignore[call-overload]
    pairs: set[tuple[int, int]] = set()
    taken: set[str] = set()
    for actor_id, post_id, ap_id in result.all():
        pairs.add((actor_id, post_id))
        if ap_id is not None:
            taken.add(ap_id)
    return pairs, taken


# --- writes ---------------------------------------------------------------------------------

_COUNT_REPLIES = (
    sa_update(_POST)
    .where(_POST.c.id == bindparam("post_id"))
    .values(replies_count=_POST.c.replies_count + bindparam("added"))
)


async def count_replies(session: AsyncSession, added: Mapping[int, int]) -> None:
    """Raise parents' ``replies_count`` (parent id -> replies added), in SQL, as
    ``posts.add_to_replies_count`` does for one."""
    if added:
        params = [{"post_id": k, "added": n} for k, n in sorted(added.items())]
        await session.exec(_COUNT_REPLIES, params=params)  # type: ignore[call-overload]


_INSERT_MENTION = insert(_MENTION).values(
    post_id=bindparam("post_id"), actor_id=bindparam("actor_id")
)


async def add_mentions(session: AsyncSession, pairs: Sequence[tuple[int, int]]) -> None:
    """``mention`` rows: (post, local account) pairs."""
    if pairs:
        params = [{"post_id": post_id, "actor_id": actor_id} for post_id, actor_id in pairs]
        await session.exec(_INSERT_MENTION, params=params)  # type: ignore[call-overload]


_HASHTAGS = select(_HASHTAG.c.id, _HASHTAG.c.name).where(
    _HASHTAG.c.name.in_(bindparam("names", expanding=True))
)
_INSERT_HASHTAG = insert(_HASHTAG).values(
    id=bindparam("id"), name=bindparam("name"), display_name=bindparam("display_name")
)
_INSERT_POST_HASHTAG = insert(_POST_HASHTAG).values(
    post_id=bindparam("post_id"), hashtag_id=bindparam("hashtag_id")
)


async def add_post_hashtags(session: AsyncSession, tags: Mapping[int, Sequence[str]]) -> None:
    """Hashtags of new posts (post id -> names as written, without '#'): names are looked
    up lower-cased, missing ones created with the first spelling seen, as
    ``inbox_queries.set_post_hashtags`` does for one post."""
    wanted: dict[int, list[str]] = {}
    spelling: dict[str, str] = {}
    for post_id, names in tags.items():
        keys: list[str] = []
        for name in names:
            key = name.lower()
            if key not in keys:
                keys.append(key)
                spelling.setdefault(key, name)
        if keys:
            wanted[post_id] = keys
    if not wanted:
        return
    result = await session.exec(_HASHTAGS, params={"names": padded(sorted(spelling))})  # type: ignore[call-overload]
    ids = {name: tag_id for tag_id, name in result.all()}
    missing = [key for key in spelling if key not in ids]
    if missing:
        for key in missing:
            ids[key] = new_id()
        await session.exec(  # type: ignore[call-overload]
            _INSERT_HASHTAG,
            params=[{"id": ids[k], "name": k, "display_name": spelling[k]} for k in missing],
        )
    await session.exec(  # type: ignore[call-overload]
        _INSERT_POST_HASHTAG,
        params=[
            {"post_id": post_id, "hashtag_id": ids[key]}
            for post_id, keys in wanted.items()
            for key in keys
        ],
    )


__all__ = [
    "ActorFacts",
    "PostFacts",
    "actors_by_ap_ids",
    "add_mentions",
    "add_post_hashtags",
    "block_pairs",
    "count_replies",
    "existing_likes",
    "posts_by_ap_ids",
    "with_local_followers",
]
