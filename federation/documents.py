"""ActivityPub documents for our actors and posts, built from rows by pure functions.

The shapes follow what Mastodon serialises (``app/serializers/activitypub``), since that is
what every other server is tested against: a ``Person`` with ``publicKey`` and
``endpoints.sharedInbox``; a ``Note`` whose images are ``Document`` attachments carrying
``blurhash``, ``focalPoint`` and the alt text in ``name``. Objects nested in an activity
carry no ``@context``; ``with_context`` adds it to the top-level document only.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any
from urllib.parse import urlsplit

from federation.urls import Urls
from federation.vocab import PUBLIC, context, iso, mime_for_key
from storage.ids import new_id
from storage.models import Actor, Hashtag, MediaAttachment, Post, Tombstone

INSTANCE_ACTOR_USERNAME = "instance.actor"
"""The instance actor's row name: the dot keeps it out of reach of sign-ups (usernames
are letters, digits and underscores), so it can never collide with a person."""

SHOWN_IMAGES = 4
"""Mastodon shows at most four attachments; the rest are linked from the caption."""


def with_context(
    document: dict[str, Any], base_url: str, *, security: bool = False
) -> dict[str, Any]:
    """The same document as a top-level JSON-LD object (``@context`` first, for readers)."""
    return {"@context": context(base_url, security=security), **document}


# --- actors ----------------------------------------------------------------------------


def featured_url(actor_url: str) -> str:
    return f"{actor_url}/collections/featured"


def _image(key: str | None, urls: Urls) -> dict[str, Any] | None:
    if not key:
        return None
    return {"type": "Image", "mediaType": mime_for_key(key), "url": urls.media(key)}


def _public_key(actor: Actor) -> dict[str, Any]:
    return {
        "id": actor.key_id or f"{actor.ap_id}#main-key",
        "owner": actor.ap_id,
        "publicKeyPem": actor.public_key_pem or "",
    }


def actor_document(actor: Actor, urls: Urls) -> dict[str, Any]:
    """A local account as a ``Person``. The private key is never read here."""
    name = actor.username
    doc: dict[str, Any] = {
        "id": actor.ap_id,
        "type": actor.actor_type or "Person",
        "preferredUsername": name,
        "name": actor.display_name or name,
        "summary": actor.bio_html,
        "url": actor.url or urls.profile(name),
        "inbox": actor.inbox_url or urls.inbox(name),
        "outbox": actor.outbox_url or urls.outbox(name),
        "followers": actor.followers_url or urls.followers(name),
        "following": actor.following_url or urls.following(name),
        "featured": featured_url(actor.ap_id),
        "endpoints": {"sharedInbox": actor.shared_inbox_url or urls.shared_inbox()},
        "publicKey": _public_key(actor),
        "manuallyApprovesFollowers": actor.manually_approves_followers,
        "discoverable": actor.discoverable,
        "indexable": actor.discoverable,
        "published": iso(actor.created_at),
        "tag": [],
        "attachment": [],
    }
    for field, key in (("icon", actor.avatar_key), ("image", actor.header_key)):
        image = _image(key, urls)
        if image is not None:
            doc[field] = image
    return doc


MINIMAL_ACTOR_FIELDS = (
    "id",
    "type",
    "preferredUsername",
    "inbox",
    "outbox",
    "publicKey",
    "endpoints",
)


def minimal_actor_document(actor: Actor, urls: Urls) -> dict[str, Any]:
    """What an unsigned request gets in authorized-fetch mode: enough to verify this
    actor's signatures and to deliver to it (the key, the inboxes), nothing of the profile.
    Mastodon in secure mode answers the same way, so that signature verification can
    bootstrap: a server must read our key before it can check our signed requests."""
    full = actor_document(actor, urls)
    return {key: full[key] for key in MINIMAL_ACTOR_FIELDS}


def instance_actor_url(urls: Urls) -> str:
    return f"{urls.base}/actor"


def new_instance_actor(urls: Urls, domain: str, keypair: tuple[str, str]) -> Actor:
    """The row for the instance actor (who signs fetches made for the server itself)."""
    private_pem, public_pem = keypair
    ap_id = instance_actor_url(urls)
    return Actor(
        id=new_id(),
        username=INSTANCE_ACTOR_USERNAME,
        username_lower=INSTANCE_ACTOR_USERNAME,
        domain=None,
        actor_type="Application",
        display_name=domain,
        ap_id=ap_id,
        url=f"{urls.base}/",
        inbox_url=f"{ap_id}/inbox",
        shared_inbox_url=urls.shared_inbox(),
        outbox_url=f"{ap_id}/outbox",
        key_id=f"{ap_id}#main-key",
        public_key_pem=public_pem,
        private_key_pem=private_pem,
        manually_approves_followers=True,
        discoverable=False,
    )


def instance_actor_document(actor: Actor, urls: Urls, domain: str) -> dict[str, Any]:
    """The ``Application`` actor at ``/actor``, shaped as Mastodon's instance actor."""
    return {
        "id": actor.ap_id,
        "type": "Application",
        "preferredUsername": domain,
        "name": domain,
        "url": actor.url or f"{urls.base}/",
        "inbox": actor.inbox_url,
        "outbox": actor.outbox_url,
        "endpoints": {"sharedInbox": actor.shared_inbox_url or urls.shared_inbox()},
        "publicKey": _public_key(actor),
        "manuallyApprovesFollowers": True,
        "discoverable": False,
        "indexable": False,
        "published": iso(actor.created_at),
    }


# --- notes -----------------------------------------------------------------------------


def addressing(visibility: str, followers_url: str) -> tuple[list[str], list[str]]:
    """(to, cc) for a visibility, as Mastodon addresses statuses.

    Public puts the Public collection in ``to`` (shown on public timelines); unlisted moves
    it to ``cc`` (visible to anyone with the link, kept off timelines); followers-only names
    only the followers collection.
    """
    if visibility == "public":
        return [PUBLIC], [followers_url]
    if visibility == "unlisted":
        return [followers_url], [PUBLIC]
    if visibility == "followers":
        return [followers_url], []
    return [], []


def attachment_document(media: MediaAttachment, urls: Urls) -> dict[str, Any]:
    """One image: the original file (what other servers copy and re-encode themselves)."""
    url = urls.media(media.original_key) if media.original_key else (media.remote_url or "")
    mime = media.original_mime or (mime_for_key(media.original_key) if media.original_key else "")
    alt = media.description or None
    return {
        "type": "Document",
        "mediaType": mime,
        "url": url,
        "name": alt,
        "summary": alt,
        "blurhash": media.blurhash,
        "focalPoint": [media.focal_x or 0.0, media.focal_y or 0.0],
        "width": media.width,
        "height": media.height,
    }


def hashtag_document(tag: Hashtag, urls: Urls) -> dict[str, Any]:
    return {"type": "Hashtag", "href": urls.tag(tag.name), "name": f"#{tag.display_name}"}


def mention_document(actor: Actor, urls: Urls) -> dict[str, Any]:
    """A ``Mention`` tag: the actor's id and its full handle (ours carry our domain)."""
    domain = actor.domain or urlsplit(urls.base).netloc
    return {"type": "Mention", "href": actor.ap_id, "name": f"@{actor.username}@{domain}"}


def _with_mentions(
    to: list[str], cc: list[str], visibility: str, mentions: Sequence[Actor]
) -> tuple[list[str], list[str]]:
    """Mastodon's rule: the people a public, unlisted or followers-only post mentions are
    named in ``cc`` (``to`` stays the audience the visibility gives)."""
    if visibility not in ("public", "unlisted", "followers"):
        return to, cc
    named = set(to) | set(cc)
    extra = [a.ap_id for a in mentions if a.ap_id not in named]
    return to, cc + list(dict.fromkeys(extra))


def _content(post: Post, page_url: str, image_count: int) -> str:
    hidden = image_count - SHOWN_IMAGES
    if hidden <= 0:
        return post.content_html
    link = f'<p><a href="{escape(page_url)}">+{hidden} more</a></p>'
    return post.content_html + link


def note_object(
    post: Post,
    author: Actor,
    media: Sequence[MediaAttachment],
    tags: Sequence[Hashtag],
    urls: Urls,
    mentions: Sequence[Actor] = (),
) -> dict[str, Any]:
    """A post as a ``Note`` (no ``@context``: ``note_document`` or an activity adds it).

    Every image is attached, in position order. Mastodon shows only the first four, so
    when there are more the content ends with a visible link to the post page, and a
    reader on such a server still learns that the post has more to see. Mentioned actors
    get a ``Mention`` tag and a place in ``cc``.
    """
    followers = author.followers_url or urls.followers(author.username)
    to, cc = _with_mentions(*addressing(post.visibility, followers), post.visibility, mentions)
    page_url = post.url or urls.post_page(author.username, post.id)
    ordered = sorted(media, key=lambda m: m.position)
    content = _content(post, page_url, len(ordered))
    note: dict[str, Any] = {
        "id": post.ap_id,
        "type": "Note",
        "summary": post.content_warning or None,
        "inReplyTo": post.in_reply_to_ap_id,
        "published": iso(post.created_at),
        "url": page_url,
        "attributedTo": author.ap_id,
        "to": to,
        "cc": cc,
        "sensitive": post.sensitive or bool(post.content_warning),
        "content": content,
        "attachment": [attachment_document(m, urls) for m in ordered],
        "tag": [hashtag_document(t, urls) for t in tags]
        + [mention_document(a, urls) for a in mentions],
        "replies": {
            "id": f"{post.ap_id}/replies",
            "type": "Collection",
            "first": {"type": "CollectionPage", "partOf": f"{post.ap_id}/replies", "items": []},
        },
        "likes": {
            "id": f"{post.ap_id}/likes",
            "type": "Collection",
            "totalItems": post.likes_count,
        },
        "shares": {
            "id": f"{post.ap_id}/shares",
            "type": "Collection",
            "totalItems": post.boosts_count,
        },
    }
    if post.language:
        note["contentMap"] = {post.language: content}
    if post.edited_at is not None:
        note["updated"] = iso(post.edited_at)
    if post.prompt:
        note["tessera:prompt"] = post.prompt
    if post.model_name:
        note["tessera:model"] = post.model_name
    return note


def note_document(
    post: Post,
    author: Actor,
    media: Sequence[MediaAttachment],
    tags: Sequence[Hashtag],
    urls: Urls,
    mentions: Sequence[Actor] = (),
) -> dict[str, Any]:
    return with_context(note_object(post, author, media, tags, urls, mentions), urls.base)


def create_activity(note: dict[str, Any]) -> dict[str, Any]:
    """The ``Create`` that delivers a Note; its addressing is the Note's own."""
    return {
        "id": f"{note['id']}#create",
        "type": "Create",
        "actor": note["attributedTo"],
        "published": note["published"],
        "to": list(note["to"]),
        "cc": list(note["cc"]),
        "object": note,
    }


def tombstone_document(tomb: Tombstone, urls: Urls) -> dict[str, Any]:
    """What a deleted post's URL answers (with 410 Gone)."""
    return with_context(
        {
            "id": tomb.ap_id,
            "type": "Tombstone",
            "formerType": tomb.former_type or "Note",
            "deleted": iso(tomb.deleted_at),
        },
        urls.base,
    )
