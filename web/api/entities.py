"""The Mastodon API entities, as pure functions from rows to JSON-ready dicts.

Shapes follow the Mastodon documentation (content/en/entities/): ids are strings, times
are ISO 8601 in UTC with milliseconds and ``Z``, optional viewer-only attributes appear
only when there is a signed-in viewer. Nothing here touches the database: callers load
rows (``web/api/render.py``) and hand them in.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from federation.urls import Urls
from storage.api_batch import AccountStats, Ties
from storage.api_queries import ActorRow, PostRow
from storage.models import Actor, Hashtag, MediaAttachment
from storage.oauth_models import OAuthApp, ProfileField

# The Mastodon API level we answer like: clients choose endpoints from it.
MASTODON_API_LEVEL = "4.2.0"


def compat_version(software_version: str) -> str:
    return f"{MASTODON_API_LEVEL} (compatible; Tessera {software_version})"


VISIBILITY_OUT = {"public": "public", "unlisted": "unlisted", "followers": "private"}
NOTIFICATION_TYPE = {"reply": "mention"}
STATUS_NOTIFICATIONS = {"favourite", "reblog", "mention", "status", "update", "poll"}


def iso(moment: datetime | None) -> str | None:
    """``2019-11-23T07:49:02.064Z``: UTC, milliseconds, ``Z``."""
    if moment is None:
        return None
    if moment.tzinfo is not None:  # stored times are naive UTC; others are converted
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds") + "Z"  # a page formats ~100 of these


def _midnight(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def static_url(urls: Urls, name: str) -> str:
    return f"{urls.base}/static/{name}"


def field_html(value: str) -> str:
    """A profile field's value as HTML: escaped text, a bare http(s) URL made a link."""
    text = value.strip()
    if re.fullmatch(r"https?://[^\s<>\"']+", text):
        shown = html.escape(re.sub(r"^https?://", "", text))
        href = html.escape(text, quote=True)
        return f'<a href="{href}" target="_blank" rel="nofollow noopener noreferrer me">{shown}</a>'
    return html.escape(text)


def account(
    actor: ActorRow, stats: AccountStats, fields: list[ProfileField], *, urls: Urls
) -> dict[str, Any]:
    local = actor.domain is None
    avatar = urls.media(actor.avatar_key) if actor.avatar_key else static_url(urls, "avatar.png")
    header = urls.media(actor.header_key) if actor.header_key else static_url(urls, "header.png")
    return {
        "id": str(actor.id),
        "username": actor.username,
        "acct": actor.username if local else f"{actor.username}@{actor.domain}",
        "url": actor.url or (urls.profile(actor.username) if local else actor.ap_id),
        "uri": actor.ap_id,
        "display_name": actor.display_name,
        "note": actor.bio_html,
        "avatar": avatar,
        "avatar_static": avatar,
        "header": header,
        "header_static": header,
        "locked": actor.manually_approves_followers,
        "fields": [
            {"name": f.name, "value": field_html(f.value), "verified_at": None} for f in fields
        ],
        "emojis": [],
        "bot": actor.actor_type in ("Service", "Application"),
        "group": actor.actor_type == "Group",
        "discoverable": actor.discoverable,
        "noindex": False,
        "created_at": iso(_midnight(actor.created_at)),
        "last_status_at": stats.last_status_at.astimezone(UTC).date().isoformat()
        if stats.last_status_at
        else None,
        "statuses_count": stats.statuses,
        "followers_count": stats.followers,
        "following_count": stats.following,
    }


def credential_account(
    base: dict[str, Any],
    actor: Actor,
    fields: list[ProfileField],
    *,
    follow_requests: int,
    is_admin: bool,
) -> dict[str, Any]:
    """The signed-in account, with its editable sources and its role."""
    return {
        **base,
        "source": {
            "privacy": "public",
            "sensitive": False,
            "language": "",
            "note": actor.bio_source,
            "fields": [{"name": f.name, "value": f.value, "verified_at": None} for f in fields],
            "follow_requests_count": follow_requests,
        },
        "role": {
            "id": "3" if is_admin else "-99",
            "name": "Admin" if is_admin else "",
            "permissions": "1" if is_admin else "0",
            "color": "",
            "highlighted": is_admin,
        },
    }


def media_attachment(media: MediaAttachment, urls: Urls) -> dict[str, Any]:
    def url(key: str | None) -> str:
        return urls.media(key) if key else static_url(urls, "unavailable.svg")

    def dims(width: int, height: int) -> dict[str, Any]:
        return {
            "width": width,
            "height": height,
            "size": f"{width}x{height}",
            "aspect": (width / height) if height else 1.0,
        }

    meta: dict[str, Any] = {
        "original": dims(media.width, media.height),
        "small": dims(media.thumb_width or media.width, media.thumb_height or media.height),
    }
    if media.focal_x is not None and media.focal_y is not None:
        meta["focus"] = {"x": media.focal_x, "y": media.focal_y}
    return {
        "id": str(media.id),
        "type": "image" if media.media_type == "image" else "unknown",
        "url": url(media.original_key or media.display_key),
        "preview_url": url(media.thumb_key or media.display_key),
        "remote_url": media.remote_url,
        "meta": meta,
        "description": media.description or None,
        "blurhash": media.blurhash,
    }


@dataclass(frozen=True)
class Viewer:
    """What the signed-in viewer has done to a status (omitted for anonymous readers)."""

    favourited: bool = False
    reblogged: bool = False
    bookmarked: bool = False
    pinned: bool | None = None  # only on the viewer's own posts


@dataclass
class StatusParts:
    post: PostRow
    account: dict[str, Any]
    media: list[dict[str, Any]] = field(default_factory=list)
    tags: list[Hashtag] = field(default_factory=list)
    mentions: list[Actor] = field(default_factory=list)
    in_reply_to_account_id: int | None = None
    viewer: Viewer | None = None


def mention(actor: Actor, urls: Urls) -> dict[str, Any]:
    local = actor.domain is None
    return {
        "id": str(actor.id),
        "username": actor.username,
        "url": actor.url or (urls.profile(actor.username) if local else actor.ap_id),
        "acct": actor.username if local else f"{actor.username}@{actor.domain}",
    }


def tag(item: Hashtag, urls: Urls, *, history: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"name": item.display_name or item.name, "url": urls.tag(item.name)}
    if history:
        out["history"] = []
    return out


def viewer_fields(viewer: Viewer | None) -> dict[str, Any]:
    if viewer is None:
        return {}
    out: dict[str, Any] = {
        "favourited": viewer.favourited,
        "reblogged": viewer.reblogged,
        "muted": False,
        "bookmarked": viewer.bookmarked,
        "filtered": [],
    }
    if viewer.pinned is not None:
        out["pinned"] = viewer.pinned
    return out


_VIEWER_JSON: dict[Viewer, bytes] = {}


def status_json(base_json: bytes, viewer: Viewer | None) -> orjson.Fragment:
    """A status's viewer-independent JSON (a ``status`` rendered without a viewer, as the
    entity cache keeps it) with the viewer's fields added, ready for ``orjson`` to embed
    as it is: the same members as ``{**base, **viewer_fields(viewer)}``, without
    serializing the status again. (There are at most 24 viewers' field sets.)"""
    if viewer is None:
        return orjson.Fragment(base_json)
    fields = _VIEWER_JSON.get(viewer)
    if fields is None:
        fields = _VIEWER_JSON[viewer] = b"," + orjson.dumps(viewer_fields(viewer))[1:]
    return orjson.Fragment(base_json[:-1] + fields)


def status(parts: StatusParts, urls: Urls, *, with_source: bool = False) -> dict[str, Any]:
    post = parts.post
    out: dict[str, Any] = {
        "id": str(post.id),
        "uri": post.ap_id,
        "url": post.url or post.ap_id,
        "created_at": iso(post.created_at),
        "edited_at": iso(post.edited_at),
        "account": parts.account,
        "content": post.content_html,
        "visibility": VISIBILITY_OUT.get(post.visibility, "direct"),
        "sensitive": post.sensitive,
        "spoiler_text": post.content_warning,
        "media_attachments": parts.media,
        "mentions": [mention(a, urls) for a in parts.mentions],
        "tags": [tag(t, urls) for t in parts.tags],
        "emojis": [],
        "reblogs_count": post.boosts_count,
        "favourites_count": post.likes_count,
        "replies_count": post.replies_count,
        "in_reply_to_id": str(post.in_reply_to_id) if post.in_reply_to_id else None,
        "in_reply_to_account_id": str(parts.in_reply_to_account_id)
        if parts.in_reply_to_account_id
        else None,
        "reblog": None,
        "poll": None,
        "card": None,
        "language": post.language,
        "text": post.caption_source if with_source else None,
        **viewer_fields(parts.viewer),
    }
    return out


def reblog(
    boost_id: int,
    boost_ap_id: str | None,
    created_at: datetime,
    booster: dict[str, Any],
    inner: dict[str, Any] | orjson.Fragment,
    viewer: Viewer | None,
    *,
    post: PostRow,
) -> dict[str, Any]:
    """A boost as Mastodon shows it: a status of its own whose ``reblog`` is the post
    (``inner``, its status, possibly already JSON)."""
    return {
        "id": str(boost_id),
        "uri": boost_ap_id or f"{post.ap_id}#boost-{boost_id}",
        "url": None,
        "created_at": iso(created_at),
        "edited_at": None,
        "account": booster,
        "content": "",
        "visibility": VISIBILITY_OUT.get(post.visibility, "direct"),
        "sensitive": False,
        "spoiler_text": "",
        "media_attachments": [],
        "mentions": [],
        "tags": [],
        "emojis": [],
        "reblogs_count": 0,
        "favourites_count": 0,
        "replies_count": 0,
        "in_reply_to_id": None,
        "in_reply_to_account_id": None,
        "reblog": inner,
        "poll": None,
        "card": None,
        "language": None,
        "text": None,
        **viewer_fields(viewer),
    }


def notification(
    note_id: int, kind: str, created_at: datetime, who: dict[str, Any], status_json: dict | None
) -> dict[str, Any]:
    kind = NOTIFICATION_TYPE.get(kind, kind)
    out: dict[str, Any] = {
        "id": str(note_id),
        "type": kind,
        "group_key": f"ungrouped-{note_id}",
        "created_at": iso(created_at),
        "account": who,
    }
    if kind in STATUS_NOTIFICATIONS and status_json is not None:
        out["status"] = status_json
    return out


def relationship(target_id: int, ties: Ties, note: str = "") -> dict[str, Any]:
    return {
        "id": str(target_id),
        "following": ties.following,
        "showing_reblogs": ties.following or ties.requested,
        "notifying": False,
        "languages": [],
        "followed_by": ties.followed_by,
        "blocking": ties.blocking,
        "blocked_by": ties.blocked_by,
        "muting": False,
        "muting_notifications": False,
        "requested": ties.requested,
        "requested_by": ties.requested_by,
        "domain_blocking": False,
        "endorsed": False,
        "note": note,
    }


def context(ancestors: list[dict], descendants: list[dict]) -> dict[str, Any]:
    return {"ancestors": ancestors, "descendants": descendants}


def application(app: OAuthApp, *, client_secret: str | None = None) -> dict[str, Any]:
    """``Application``; with ``client_secret`` the ``CredentialApplication`` of POST /apps."""
    uris = [u for u in app.redirect_uris.split("\n") if u]
    out: dict[str, Any] = {
        "id": str(app.id),
        "name": app.name,
        "website": app.website,
        "scopes": app.scopes.split(),
        "redirect_uri": "\n".join(uris),
        "redirect_uris": uris,
        "vapid_key": "",
    }
    if client_secret is not None:
        out.update(client_id=app.client_id, client_secret=client_secret, client_secret_expires_at=0)
    return out


def token(access_token: str, scopes: str, created_at: datetime, refresh: str | None) -> dict:
    out: dict[str, Any] = {
        "access_token": access_token,
        "token_type": "Bearer",
        "scope": scopes,
        "created_at": int(created_at.timestamp()),
    }
    if refresh:
        out["refresh_token"] = refresh
    return out


def error(message: str) -> dict[str, str]:
    return {"error": message}
