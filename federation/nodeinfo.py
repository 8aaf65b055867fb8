"""NodeInfo 2.0 / 2.1: what software an instance runs and how big it is.

Crawlers (fediverse statistics sites) and other servers read it to decide how to talk to
us; Mastodon reads ``software.name`` to pick workarounds. Both versions are served because
many readers still only know 2.0, whose schema forbids 2.1's extra software fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from typing import Any

from federation.urls import Urls

SOFTWARE_NAME = "tessera"
FALLBACK_VERSION = "0.1.0"
SCHEMA_REL = "http://nodeinfo.diaspora.software/ns/schema/{version}"
VERSIONS = ("2.0", "2.1")


@dataclass(frozen=True)
class Software:
    version: str
    repository: str | None = None
    homepage: str | None = None


@dataclass(frozen=True)
class Usage:
    total_users: int
    active_month: int
    active_halfyear: int
    local_posts: int


def software_info() -> Software:
    """Version and project URLs from the installed package's metadata (a checkout that is
    not installed still answers, with the fallback version and no URLs)."""
    try:
        meta = metadata.metadata(SOFTWARE_NAME)
    except metadata.PackageNotFoundError:
        return Software(FALLBACK_VERSION)
    urls: dict[str, str] = {}
    for entry in meta.get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        urls[label.strip().lower()] = url.strip()
    return Software(
        version=meta.get("Version") or FALLBACK_VERSION,
        repository=urls.get("repository") or urls.get("source"),
        homepage=urls.get("homepage") or meta.get("Home-page"),
    )


def content_type(version: str) -> str:
    """The media type the NodeInfo protocol gives each schema version."""
    return f'application/json; profile="{SCHEMA_REL.format(version=version)}#"'


def nodeinfo_index(urls: Urls) -> dict[str, Any]:
    """``/.well-known/nodeinfo``: links to every document version we serve."""
    return {
        "links": [
            {"rel": SCHEMA_REL.format(version=v), "href": f"{urls.base}/nodeinfo/{v}"}
            for v in VERSIONS
        ]
    }


def nodeinfo_document(
    version: str,
    *,
    software: Software,
    usage: Usage,
    registrations: str,
    node_name: str,
    node_description: str,
) -> dict[str, Any]:
    """A NodeInfo document of ``version`` ("2.0" or "2.1").

    ``openRegistrations`` is true only for open sign-ups: an approval queue or invites
    mean a visitor cannot simply join, which is what crawlers list it for.
    """
    if version not in VERSIONS:
        raise ValueError(f"unsupported NodeInfo version {version!r}")
    soft: dict[str, Any] = {"name": SOFTWARE_NAME, "version": software.version}
    if version == "2.1":
        if software.repository:
            soft["repository"] = software.repository
        if software.homepage:
            soft["homepage"] = software.homepage
    return {
        "version": version,
        "software": soft,
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": registrations == "open",
        "usage": {
            "users": {
                "total": usage.total_users,
                "activeMonth": usage.active_month,
                "activeHalfyear": usage.active_halfyear,
            },
            "localPosts": usage.local_posts,
        },
        "metadata": {"nodeName": node_name, "nodeDescription": node_description},
    }
