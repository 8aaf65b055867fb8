"""The activities we send, built by pure functions with predictable ids.

Each builder returns a complete top-level document (``@context`` first) shaped as Mastodon
serialises the same activity (``app/serializers/activitypub/*``), because that is what
every other server is tested against. Ids are derived from the row that caused the
activity, so building the same activity twice gives the same id, and a receiver can
recognise a duplicate:

=================  ============================================================
Create{Note}       ``{note}#create``
Update{Note}       ``{note}#updates/{epoch milliseconds of the edit}``
Delete{Tombstone}  ``{note}#delete``
Like               ``{actor}#likes/{like row id}``
Announce           ``{actor}/statuses/{boost row id}/activity``
Follow             ``{actor}#follows/{follow row id}``
Block              ``{actor}#blocks/{block row id}``
Accept / Reject    ``{followee}#accepts/follows/{id}`` / ``#rejects/follows/{id}``
Undo{X}            ``{X's id}/undo`` (Announce: ``{actor}#announces/{id}/undo``)
Update{Person}     ``{actor}#updates/{epoch milliseconds}``
=================  ============================================================

Nested objects carry no ``@context`` (only the top-level document does); an activity we
received and embed (the Follow inside an Accept) loses its ``@context`` and any embedded
JSON-LD ``signature``, which would not verify once nested.

Builders take an :class:`~storage.models.Actor` row or an actor id string wherever an
actor is named, so callers holding either can use them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from federation.documents import create_activity, with_context
from federation.vocab import AS_CONTEXT, PUBLIC, context, iso
from storage.models import Actor

__all__ = [
    "accept_id",
    "announce_id",
    "block_id",
    "build_accept",
    "build_announce",
    "build_block",
    "build_create",
    "build_delete_note",
    "build_follow",
    "build_like",
    "build_reject",
    "build_undo",
    "build_undo_announce",
    "build_undo_block",
    "build_undo_follow",
    "build_undo_like",
    "build_update_note",
    "build_update_person",
    "follow_id",
    "like_id",
    "update_note_id",
]

ActorRef = Actor | str
"""An actor row or its ActivityPub id."""


def _ap_id(actor: ActorRef) -> str:
    return actor if isinstance(actor, str) else actor.ap_id


def _followers(actor: ActorRef) -> str:
    """The followers collection of a local actor (rows know it; ids follow our URL scheme)."""
    if isinstance(actor, Actor) and actor.followers_url:
        return actor.followers_url
    return f"{_ap_id(actor)}/followers"


def _top(document: dict[str, Any]) -> dict[str, Any]:
    """A plain activity as a top-level document: the ActivityStreams context only, which is
    what Mastodon sends with Follow, Like, Block, Undo, Accept and Reject."""
    return {"@context": AS_CONTEXT, **document}


def _nested(activity: dict[str, Any]) -> dict[str, Any]:
    """An activity placed inside another: no ``@context``, no linked-data signature."""
    return {k: v for k, v in activity.items() if k not in ("@context", "signature")}


# --- ids ---------------------------------------------------------------------------------


def like_id(actor: ActorRef, like_row_id: int) -> str:
    return f"{_ap_id(actor)}#likes/{like_row_id}"


def announce_id(actor: ActorRef, boost_row_id: int) -> str:
    return f"{_ap_id(actor)}/statuses/{boost_row_id}/activity"


def follow_id(actor: ActorRef, follow_row_id: int) -> str:
    return f"{_ap_id(actor)}#follows/{follow_row_id}"


def block_id(actor: ActorRef, block_row_id: int) -> str:
    return f"{_ap_id(actor)}#blocks/{block_row_id}"


def accept_id(actor: ActorRef, follow_row_id: int, *, reject: bool = False) -> str:
    kind = "rejects" if reject else "accepts"
    return f"{_ap_id(actor)}#{kind}/follows/{follow_row_id}"


def update_note_id(note_id: str, updated_at: datetime) -> str:
    """Milliseconds, so two edits in the same second still get two Updates."""
    return f"{note_id}#updates/{int(updated_at.timestamp() * 1000)}"


# --- notes -------------------------------------------------------------------------------


def build_create(note: dict[str, Any], base_url: str) -> dict[str, Any]:
    """``Create{Note}`` with the Note's own addressing (see ``documents.create_activity``)."""
    return with_context(create_activity(note), base_url)


def build_update_note(
    note: dict[str, Any], base_url: str, *, updated_at: datetime
) -> dict[str, Any]:
    """``Update{Note}`` after an edit: the whole new Note, addressed as the Note is."""
    return with_context(
        {
            "id": update_note_id(note["id"], updated_at),
            "type": "Update",
            "actor": note["attributedTo"],
            "published": iso(updated_at),
            "to": list(note["to"]),
            "cc": list(note["cc"]),
            "object": note,
        },
        base_url,
    )


def build_delete_note(actor: ActorRef, note_id: str) -> dict[str, Any]:
    """``Delete{Tombstone}``: Mastodon addresses deletes to Public whatever the visibility
    (the receiver only acts on posts it already has)."""
    return _top(
        {
            "id": f"{note_id}#delete",
            "type": "Delete",
            "actor": _ap_id(actor),
            "to": [PUBLIC],
            "object": {"id": note_id, "type": "Tombstone"},
        }
    )


# --- reactions ---------------------------------------------------------------------------


def build_like(actor: ActorRef, like_row_id: int, post_ap_id: str) -> dict[str, Any]:
    return _top(
        {
            "id": like_id(actor, like_row_id),
            "type": "Like",
            "actor": _ap_id(actor),
            "object": post_ap_id,
        }
    )


def build_undo(actor: ActorRef, activity: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """``Undo`` of one of our activities: id ``{activity id}/undo``, the activity inlined."""
    inner = _nested(activity)
    return _top(
        {
            "id": f"{inner['id']}/undo",
            "type": "Undo",
            "actor": _ap_id(actor),
            **extra,
            "object": inner,
        }
    )


def build_undo_like(actor: ActorRef, like_row_id: int, post_ap_id: str) -> dict[str, Any]:
    return build_undo(actor, build_like(actor, like_row_id, post_ap_id))


def build_announce(
    actor: ActorRef,
    boost_row_id: int,
    post_ap_id: str,
    *,
    author_ap_id: str,
    published: datetime,
    visibility: str = "public",
) -> dict[str, Any]:
    """A boost. Public: ``to`` Public, ``cc`` the post's author and our followers (as
    Mastodon). An unlisted boost moves Public to ``cc`` so it stays off timelines."""
    followers = _followers(actor)
    if visibility == "unlisted":
        to, cc = [followers], [PUBLIC, author_ap_id]
    else:
        to, cc = [PUBLIC], [author_ap_id, followers]
    return _top(
        {
            "id": announce_id(actor, boost_row_id),
            "type": "Announce",
            "actor": _ap_id(actor),
            "published": iso(published),
            "to": to,
            "cc": cc,
            "object": post_ap_id,
        }
    )


def build_undo_announce(
    actor: ActorRef,
    boost_row_id: int,
    post_ap_id: str,
    *,
    author_ap_id: str,
    published: datetime,
    visibility: str = "public",
) -> dict[str, Any]:
    """``Undo{Announce}``, id ``{actor}#announces/{id}/undo`` and addressed to Public, as
    Mastodon's ``UndoAnnounceSerializer``; the Announce is inlined in full."""
    announce = build_announce(
        actor,
        boost_row_id,
        post_ap_id,
        author_ap_id=author_ap_id,
        published=published,
        visibility=visibility,
    )
    return _top(
        {
            "id": f"{_ap_id(actor)}#announces/{boost_row_id}/undo",
            "type": "Undo",
            "actor": _ap_id(actor),
            "to": [PUBLIC],
            "object": _nested(announce),
        }
    )


# --- relationships -----------------------------------------------------------------------


def build_follow(actor: ActorRef, follow_row_id: int, target_ap_id: str) -> dict[str, Any]:
    return _top(
        {
            "id": follow_id(actor, follow_row_id),
            "type": "Follow",
            "actor": _ap_id(actor),
            "object": target_ap_id,
        }
    )


def build_undo_follow(actor: ActorRef, follow_row_id: int, target_ap_id: str) -> dict[str, Any]:
    return build_undo(actor, build_follow(actor, follow_row_id, target_ap_id))


def _answer_follow(
    kind: str, actor: ActorRef, follow: dict[str, Any] | str, follow_row_id: int
) -> dict[str, Any]:
    obj: dict[str, Any] | str = _nested(follow) if isinstance(follow, dict) else follow
    return _top(
        {
            "id": accept_id(actor, follow_row_id, reject=kind == "Reject"),
            "type": kind,
            "actor": _ap_id(actor),
            "object": obj,
        }
    )


def build_accept(
    actor: ActorRef, follow: dict[str, Any] | str, *, follow_row_id: int
) -> dict[str, Any]:
    """``Accept{Follow}`` from ``actor`` (the one followed).

    ``follow`` is the Follow activity as received (embedded, minus ``@context`` and
    signature) or, when we no longer have it, its id: Mastodon finds the follow request by
    the object's id either way.
    """
    return _answer_follow("Accept", actor, follow, follow_row_id)


def build_reject(
    actor: ActorRef, follow: dict[str, Any] | str, *, follow_row_id: int
) -> dict[str, Any]:
    """``Reject{Follow}``: a refused request, or removing a follower who was accepted."""
    return _answer_follow("Reject", actor, follow, follow_row_id)


def build_block(actor: ActorRef, block_row_id: int, target_ap_id: str) -> dict[str, Any]:
    return _top(
        {
            "id": block_id(actor, block_row_id),
            "type": "Block",
            "actor": _ap_id(actor),
            "object": target_ap_id,
        }
    )


def build_undo_block(actor: ActorRef, block_row_id: int, target_ap_id: str) -> dict[str, Any]:
    return build_undo(actor, build_block(actor, block_row_id, target_ap_id))


# --- actors ------------------------------------------------------------------------------


def build_update_person(
    person: dict[str, Any], base_url: str, *, updated_at: datetime
) -> dict[str, Any]:
    """``Update{Person}`` after a profile edit; ``person`` is ``documents.actor_document``.

    The security context is included because the nested document carries ``publicKey``.
    """
    actor = person["id"]
    return {
        "@context": context(base_url, security=True),
        "id": f"{actor}#updates/{int(updated_at.timestamp() * 1000)}",
        "type": "Update",
        "actor": actor,
        "to": [PUBLIC],
        "object": person,
    }
