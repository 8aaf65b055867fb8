"""The ``Instance`` entities (v2, and the older v1 that many apps still read first).

Pure functions of the configuration and a few counts. Tessera takes still images only, so
video and audio limits are zero, and there are no polls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tessera.config import Config
from web.api.entities import compat_version

SUPPORTED_MIME_TYPES = ["image/jpeg", "image/png", "image/webp", "image/gif", "image/avif"]
MAX_CHARACTERS = 5000  # services.posts.MAX_CAPTION


@dataclass(frozen=True)
class InstanceStats:
    users: int
    active_month: int
    statuses: int
    domains: int
    software_version: str
    source_url: str  # the project's repository, else this instance's own address


def _streaming(config: Config) -> str:
    scheme = "wss" if config.instance.scheme == "https" else "ws"
    return f"{scheme}://{config.instance.domain}"


def _statuses(config: Config) -> dict[str, int]:
    return {
        "max_characters": MAX_CHARACTERS,
        "max_media_attachments": config.media.max_attachments,
        "characters_reserved_per_url": 23,
    }


def _media(config: Config) -> dict[str, Any]:
    return {
        "supported_mime_types": SUPPORTED_MIME_TYPES,
        "description_limit": config.media.max_alt_text,
        "image_size_limit": config.media.max_upload_bytes,
        "image_matrix_limit": config.media.max_pixels,
        "video_size_limit": 0,
        "video_frame_rate_limit": 0,
        "video_matrix_limit": 0,
    }


def _polls() -> dict[str, int]:
    return {
        "max_options": 0,
        "max_characters_per_option": 0,
        "min_expiration": 0,
        "max_expiration": 0,
    }


def instance_v2(config: Config, stats: InstanceStats, contact: dict | None) -> dict[str, Any]:
    inst = config.instance
    thumbnail = f"{config.base_url}/static/header.png"
    return {
        "domain": inst.domain,
        "title": inst.name,
        "version": compat_version(stats.software_version),
        "source_url": stats.source_url,
        "description": inst.description,
        "usage": {"users": {"active_month": stats.active_month}},
        "thumbnail": {"url": thumbnail},
        "icon": [],
        "languages": ["en"],
        "configuration": {
            "urls": {"streaming": _streaming(config), "status": None},
            "vapid": {"public_key": ""},
            "accounts": {"max_featured_tags": 0, "max_pinned_statuses": 0},
            "statuses": _statuses(config),
            "media_attachments": _media(config),
            "polls": _polls(),
            "translation": {"enabled": False},
        },
        "registrations": {
            "enabled": inst.registrations != "closed",
            "approval_required": inst.registrations == "approval",
            "message": None,
            "url": None,
        },
        "api_versions": {"mastodon": 1},
        "contact": {"email": inst.contact_email, "account": contact},
        "rules": [],
    }


def instance_v1(config: Config, stats: InstanceStats, contact: dict | None) -> dict[str, Any]:
    inst = config.instance
    return {
        "uri": inst.domain,
        "title": inst.name,
        "short_description": inst.description,
        "description": inst.description,
        "email": inst.contact_email,
        "version": compat_version(stats.software_version),
        "urls": {"streaming_api": _streaming(config)},
        "stats": {
            "user_count": stats.users,
            "status_count": stats.statuses,
            "domain_count": stats.domains,
        },
        "thumbnail": f"{config.base_url}/static/header.png",
        "languages": ["en"],
        "registrations": inst.registrations != "closed",
        "approval_required": inst.registrations == "approval",
        "invites_enabled": True,
        "configuration": {
            "accounts": {"max_featured_tags": 0},
            "statuses": _statuses(config),
            "media_attachments": _media(config),
            "polls": _polls(),
        },
        "contact_account": contact,
        "rules": [],
    }


def preferences() -> dict[str, Any]:
    return {
        "posting:default:visibility": "public",
        "posting:default:sensitive": False,
        "posting:default:language": None,
        "reading:expand:media": "default",
        "reading:expand:spoilers": False,
    }
