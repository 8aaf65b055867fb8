"""ActivityPub vocabulary shared by every document we serve: contexts, media types, dates.

Other servers (Mastodon above all) do not run a JSON-LD processor on what they receive;
they read the compact keys. So every document carries the same inline term definitions
Mastodon sends, spelled the same way, and our own extension keys are namespaced
(``tessera:prompt``) so that no other software mistakes them for one of its own terms.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
SECURITY_CONTEXT = "https://w3id.org/security/v1"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
TOOT_NS = "http://joinmastodon.org/ns#"

TESSERA_NS_TEMPLATE = "{base}/ns#"
"""Namespace of Tessera's own terms (the AI generation metadata). Ids are permanent, and so
is this: once an instance federates, the expansion of ``tessera:prompt`` must not change."""

ACTIVITY_JSON = "application/activity+json"
LD_JSON_AS = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
ACTIVITY_CONTENT_TYPE = "application/activity+json; charset=utf-8"
JRD_CONTENT_TYPE = "application/jrd+json; charset=utf-8"

# Image types we store, by file extension (blob keys end with one).
MIME_BY_EXT = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "avif": "image/avif",
}


def tessera_namespace(base_url: str) -> str:
    return TESSERA_NS_TEMPLATE.format(base=base_url.rstrip("/"))


def extension_terms(base_url: str) -> dict[str, Any]:
    """The inline term definitions Mastodon sends, plus Tessera's namespace.

    Mastodon, GoToSocial and Pixelfed read ``sensitive``, ``blurhash``, ``focalPoint`` and
    ``discoverable`` by their compact names; declaring them the way Mastodon does keeps
    JSON-LD-aware consumers (and signature canonicalisation) reading the same thing.
    """
    return {
        "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
        "sensitive": "as:sensitive",
        "Hashtag": "as:Hashtag",
        "toot": TOOT_NS,
        "featured": {"@id": "toot:featured", "@type": "@id"},
        "discoverable": "toot:discoverable",
        "indexable": "toot:indexable",
        "blurhash": "toot:blurhash",
        "focalPoint": {"@container": "@list", "@id": "toot:focalPoint"},
        "schema": "http://schema.org#",
        "PropertyValue": "schema:PropertyValue",
        "value": "schema:value",
        "tessera": tessera_namespace(base_url),
    }


def context(base_url: str, *, security: bool = False) -> list[Any]:
    """``@context`` for a top-level document; actors add the security vocabulary (keys)."""
    head: list[Any] = [AS_CONTEXT]
    if security:
        head.append(SECURITY_CONTEXT)
    return [*head, extension_terms(base_url)]


def iso(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, to the second, as Mastodon writes dates.

    SQLite hands datetimes back without a zone; every stored time is UTC, so a naive value
    is read as UTC rather than as the server's local time.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def mime_for_key(key: str) -> str:
    """The media type of a stored blob, from its extension (keys are ``hash.ext``)."""
    return MIME_BY_EXT.get(key.rsplit(".", 1)[-1].lower(), "application/octet-stream")
