"""JSON schemas of the Mastodon entities, written from the Mastodon documentation
(mastodon/documentation, content/en/entities/*.md), and a validator for tests.

Every attribute the documentation lists without "optional" is required here; nullable
ones allow null; ids are strings of digits; datetimes are ISO 8601 with milliseconds in
UTC (``2019-11-23T07:49:02.064Z``).
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

DATETIME = {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"}
DATE = {"type": "string", "pattern": r"^\d{4}-\d\d-\d\d$"}
ID = {"type": "string", "pattern": r"^\d+$"}
URL = {"type": "string", "pattern": r"^(https?|wss?)://"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "required": sorted(required),
        "properties": {**required, **(optional or {})},
    }


FIELD = obj(
    {"name": {"type": "string"}, "value": {"type": "string"}, "verified_at": nullable(DATETIME)}
)
CUSTOM_EMOJI = obj(
    {
        "shortcode": {"type": "string"},
        "url": URL,
        "static_url": URL,
        "visible_in_picker": {"type": "boolean"},
    }
)

ACCOUNT = obj(
    {
        "id": ID,
        "username": {"type": "string", "minLength": 1},
        "acct": {"type": "string", "minLength": 1},
        "url": URL,
        "display_name": {"type": "string"},
        "note": {"type": "string"},
        "avatar": URL,
        "avatar_static": URL,
        "header": URL,
        "header_static": URL,
        "locked": {"type": "boolean"},
        "fields": {"type": "array", "items": FIELD},
        "emojis": {"type": "array", "items": CUSTOM_EMOJI},
        "bot": {"type": "boolean"},
        "group": {"type": "boolean"},
        "discoverable": nullable({"type": "boolean"}),
        "created_at": DATETIME,
        "last_status_at": nullable(DATE),
        "statuses_count": {"type": "integer", "minimum": 0},
        "followers_count": {"type": "integer", "minimum": 0},
        "following_count": {"type": "integer", "minimum": 0},
    },
    {
        "noindex": nullable({"type": "boolean"}),
        "suspended": {"type": "boolean"},
        "limited": {"type": "boolean"},
    },
)

ROLE = obj(
    {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "permissions": {"type": "string"},
        "color": {"type": "string"},
        "highlighted": {"type": "boolean"},
    }
)

CREDENTIAL_ACCOUNT = {
    "allOf": [
        ACCOUNT,
        obj(
            {
                "source": obj(
                    {
                        "note": {"type": "string"},
                        "fields": {"type": "array", "items": FIELD},
                        "privacy": {"enum": ["public", "unlisted", "private", "direct"]},
                        "sensitive": {"type": "boolean"},
                        "language": {"type": "string"},
                        "follow_requests_count": {"type": "integer", "minimum": 0},
                    }
                ),
                "role": ROLE,
            }
        ),
    ]
}

DIMENSIONS = obj(
    {
        "width": {"type": "integer"},
        "height": {"type": "integer"},
        "size": {"type": "string", "pattern": r"^\d+x\d+$"},
        "aspect": {"type": "number"},
    }
)
MEDIA_ATTACHMENT = obj(
    {
        "id": ID,
        "type": {"enum": ["unknown", "image", "gifv", "video", "audio"]},
        "url": URL,
        "preview_url": nullable(URL),
        "remote_url": nullable(URL),
        "meta": obj(
            {"original": DIMENSIONS, "small": DIMENSIONS},
            {
                "focus": nullable(
                    obj(
                        {
                            "x": {"type": "number", "minimum": -1, "maximum": 1},
                            "y": {"type": "number", "minimum": -1, "maximum": 1},
                        }
                    )
                )
            },
        ),
        "description": nullable({"type": "string"}),
        "blurhash": nullable({"type": "string"}),
    }
)

MENTION = obj({"id": ID, "username": {"type": "string"}, "url": URL, "acct": {"type": "string"}})
TAG = obj({"name": {"type": "string"}, "url": URL})
APPLICATION_REF = obj({"name": {"type": "string"}}, {"website": nullable(URL)})

_STATUS_REQUIRED: dict[str, Any] = {
    "id": ID,
    "uri": {"type": "string"},
    "created_at": DATETIME,
    "account": ACCOUNT,
    "content": {"type": "string"},
    "visibility": {"enum": ["public", "unlisted", "private", "direct"]},
    "sensitive": {"type": "boolean"},
    "spoiler_text": {"type": "string"},
    "media_attachments": {"type": "array", "items": MEDIA_ATTACHMENT},
    "mentions": {"type": "array", "items": MENTION},
    "tags": {"type": "array", "items": TAG},
    "emojis": {"type": "array", "items": CUSTOM_EMOJI},
    "reblogs_count": {"type": "integer", "minimum": 0},
    "favourites_count": {"type": "integer", "minimum": 0},
    "replies_count": {"type": "integer", "minimum": 0},
    "url": nullable(URL),
    "in_reply_to_id": nullable(ID),
    "in_reply_to_account_id": nullable(ID),
    "poll": {"type": "null"},
    "card": {"type": "null"},
    "language": nullable({"type": "string"}),
    "text": nullable({"type": "string"}),
    "edited_at": nullable(DATETIME),
}
_STATUS_OPTIONAL: dict[str, Any] = {
    "application": APPLICATION_REF,
    "favourited": {"type": "boolean"},
    "reblogged": {"type": "boolean"},
    "muted": {"type": "boolean"},
    "bookmarked": {"type": "boolean"},
    "pinned": {"type": "boolean"},
    "filtered": {"type": "array"},
}
INNER_STATUS = obj({**_STATUS_REQUIRED, "reblog": {"type": "null"}}, _STATUS_OPTIONAL)
STATUS = obj({**_STATUS_REQUIRED, "reblog": nullable(INNER_STATUS)}, _STATUS_OPTIONAL)

NOTIFICATION = obj(
    {
        "id": ID,
        "type": {
            "enum": [
                "mention",
                "status",
                "reblog",
                "follow",
                "follow_request",
                "favourite",
                "poll",
                "update",
                "admin.sign_up",
                "admin.report",
            ]
        },
        "group_key": {"type": "string"},
        "created_at": DATETIME,
        "account": ACCOUNT,
    },
    {"status": STATUS},
)

RELATIONSHIP = obj(
    {
        "id": ID,
        "following": {"type": "boolean"},
        "showing_reblogs": {"type": "boolean"},
        "notifying": {"type": "boolean"},
        "languages": {"type": "array", "items": {"type": "string"}},
        "followed_by": {"type": "boolean"},
        "blocking": {"type": "boolean"},
        "blocked_by": {"type": "boolean"},
        "muting": {"type": "boolean"},
        "muting_notifications": {"type": "boolean"},
        "requested": {"type": "boolean"},
        "requested_by": {"type": "boolean"},
        "domain_blocking": {"type": "boolean"},
        "endorsed": {"type": "boolean"},
        "note": {"type": "string"},
    }
)

CONTEXT = obj(
    {
        "ancestors": {"type": "array", "items": STATUS},
        "descendants": {"type": "array", "items": STATUS},
    }
)

APPLICATION = obj(
    {"name": {"type": "string"}},
    {
        "website": nullable({"type": "string"}),
        "scopes": {"type": "array", "items": {"type": "string"}},
        "redirect_uris": {"type": "array", "items": {"type": "string"}},
    },
)
CREDENTIAL_APPLICATION = {
    "allOf": [
        APPLICATION,
        obj(
            {
                "id": ID,
                "client_id": {"type": "string", "minLength": 32},
                "client_secret": {"type": "string", "minLength": 32},
                "client_secret_expires_at": {"type": "integer"},
                "scopes": {"type": "array", "items": {"type": "string"}},
                "redirect_uris": {"type": "array", "items": {"type": "string"}},
            }
        ),
    ]
}

TOKEN = obj(
    {
        "access_token": {"type": "string", "minLength": 32},
        "token_type": {"const": "Bearer"},
        "scope": {"type": "string"},
        "created_at": {"type": "integer"},
    }
)
ERROR = obj(
    {"error": {"type": "string", "minLength": 1}}, {"error_description": {"type": "string"}}
)

_CONFIG_STATUSES = obj(
    {
        "max_characters": {"type": "integer"},
        "max_media_attachments": {"type": "integer", "minimum": 1},
        "characters_reserved_per_url": {"type": "integer"},
    }
)
_CONFIG_MEDIA = obj(
    {
        "supported_mime_types": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "image_size_limit": {"type": "integer", "minimum": 1},
        "image_matrix_limit": {"type": "integer", "minimum": 1},
        "video_size_limit": {"type": "integer"},
        "video_frame_rate_limit": {"type": "integer"},
        "video_matrix_limit": {"type": "integer"},
    }
)
_CONFIG_POLLS = obj(
    {
        "max_options": {"type": "integer"},
        "max_characters_per_option": {"type": "integer"},
        "min_expiration": {"type": "integer"},
        "max_expiration": {"type": "integer"},
    }
)
RULE = obj({"id": ID, "text": {"type": "string"}})

INSTANCE_V2 = obj(
    {
        "domain": {"type": "string"},
        "title": {"type": "string"},
        "version": {"type": "string"},
        "source_url": URL,
        "description": {"type": "string"},
        "usage": obj({"users": obj({"active_month": {"type": "integer"}})}),
        "thumbnail": obj({"url": URL}),
        "languages": {"type": "array", "items": {"type": "string"}},
        "configuration": obj(
            {
                "urls": obj({"streaming": URL}),
                "accounts": obj({"max_featured_tags": {"type": "integer"}}),
                "statuses": _CONFIG_STATUSES,
                "media_attachments": _CONFIG_MEDIA,
                "polls": _CONFIG_POLLS,
                "translation": obj({"enabled": {"type": "boolean"}}),
            }
        ),
        "registrations": obj(
            {
                "enabled": {"type": "boolean"},
                "approval_required": {"type": "boolean"},
                "message": nullable({"type": "string"}),
            }
        ),
        "api_versions": obj({"mastodon": {"type": "integer"}}),
        "contact": obj({"email": {"type": "string"}, "account": nullable(ACCOUNT)}),
        "rules": {"type": "array", "items": RULE},
    }
)

INSTANCE_V1 = obj(
    {
        "uri": {"type": "string"},
        "title": {"type": "string"},
        "short_description": {"type": "string"},
        "description": {"type": "string"},
        "email": {"type": "string"},
        "version": {"type": "string"},
        "urls": obj({"streaming_api": URL}),
        "stats": obj(
            {
                "user_count": {"type": "integer"},
                "status_count": {"type": "integer"},
                "domain_count": {"type": "integer"},
            }
        ),
        "thumbnail": nullable(URL),
        "languages": {"type": "array", "items": {"type": "string"}},
        "registrations": {"type": "boolean"},
        "approval_required": {"type": "boolean"},
        "invites_enabled": {"type": "boolean"},
        "configuration": obj(
            {
                "statuses": _CONFIG_STATUSES,
                "media_attachments": _CONFIG_MEDIA,
                "polls": _CONFIG_POLLS,
            }
        ),
        "contact_account": nullable(ACCOUNT),
        "rules": {"type": "array", "items": RULE},
    }
)

SEARCH = obj(
    {
        "accounts": {"type": "array", "items": ACCOUNT},
        "statuses": {"type": "array", "items": STATUS},
        "hashtags": {
            "type": "array",
            "items": obj({"name": {"type": "string"}, "url": URL, "history": {"type": "array"}}),
        },
    }
)
MARKER = obj({"last_read_id": ID, "version": {"type": "integer"}, "updated_at": DATETIME})
PREFERENCES = obj(
    {
        "posting:default:visibility": {"enum": ["public", "unlisted", "private", "direct"]},
        "posting:default:sensitive": {"type": "boolean"},
        "posting:default:language": nullable({"type": "string"}),
        "reading:expand:media": {"enum": ["default", "show_all", "hide_all"]},
        "reading:expand:spoilers": {"type": "boolean"},
    }
)


def list_of(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": schema}


def check(schema: dict[str, Any], data: Any) -> Any:
    """Validate ``data`` against ``schema``; the assertion message lists every problem."""
    errors = sorted(Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:20])
    return data
