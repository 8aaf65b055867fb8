"""WebFinger and host-meta: how other servers turn ``@name@domain`` into an actor URL.

Mastodon looks an account up with ``/.well-known/webfinger?resource=acct:name@domain``
and follows the ``self`` link whose type is ``application/activity+json``; older software
first reads ``/.well-known/host-meta`` for the WebFinger URL template. Both directions live
here as pure functions: building our answers, and reading other servers' answers.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

from federation.urls import Urls
from federation.vocab import ACTIVITY_JSON

PROFILE_PAGE_REL = "http://webfinger.net/rel/profile-page"
SUBSCRIBE_REL = "http://ostatus.org/schema/1.0/subscribe"
XRD_NS = "http://docs.oasis-open.org/ns/xri/xrd-1.0"
_AP_LINK_TYPES = ("application/activity+json", "application/ld+json")


class BadResource(ValueError):
    """A WebFinger ``resource`` that is neither an ``acct:`` URI nor an http(s) URL."""


class WebfingerError(ValueError):
    """A remote JRD that names no ActivityPub actor."""


def webfinger_template(urls: Urls) -> str:
    return f"{urls.base}/.well-known/webfinger?resource={{uri}}"


def webfinger_jrd(
    *, username: str, domain: str, actor_url: str, profile_url: str, urls: Urls
) -> dict[str, Any]:
    """The JRD for one of our actors, link for link as Mastodon answers."""
    return {
        "subject": f"acct:{username}@{domain}",
        "aliases": [profile_url, actor_url],
        "links": [
            {"rel": PROFILE_PAGE_REL, "type": "text/html", "href": profile_url},
            {"rel": "self", "type": ACTIVITY_JSON, "href": actor_url},
            {"rel": SUBSCRIBE_REL, "template": f"{urls.base}/authorize_interaction?uri={{uri}}"},
        ],
    }


def _same_origin(url: str, base: str) -> bool:
    ours, theirs = urlsplit(base), urlsplit(url)
    return (
        theirs.scheme.lower() == ours.scheme.lower()
        and theirs.netloc.lower() == ours.netloc.lower()
    )


def local_username_from_resource(resource: str, *, domain: str, urls: Urls) -> str | None:
    """The username a WebFinger query asks about, or None when it names another server.

    Accepted: ``acct:name@domain`` (also without ``acct:``; the domain compared without
    case, as DNS does), our actor URL ``/users/name`` and profile URL ``/@name``. Our
    instance actor's URL ``/actor`` maps to the domain, its ``preferredUsername``, so
    ``acct:domain@domain`` and the URL reach the same account (Mastodon's convention).
    Raises ``BadResource`` for anything malformed.
    """
    resource = (resource or "").strip()
    if not resource:
        raise BadResource("resource is missing")
    lowered = resource.lower()
    if lowered.startswith(("http://", "https://")):
        try:  # urlsplit refuses some URLs outright ("http://[" is an unclosed IPv6 host)
            if not _same_origin(resource, urls.base):
                return None
            path = urlsplit(resource).path.rstrip("/")
        except ValueError as exc:
            raise BadResource("resource is not a valid URL") from exc
        if path == "/actor":
            return domain
        for prefix in ("/users/", "/@"):
            if path.startswith(prefix):
                name = path[len(prefix) :]
                return name if name and "/" not in name and "@" not in name else None
        return None
    if lowered.startswith("acct:"):
        resource = resource[5:]
    resource = resource.removeprefix("@")
    name, sep, host = resource.rpartition("@")
    if not sep or not name or not host or "@" in name or "/" in resource or " " in resource:
        raise BadResource("resource must be acct:name@domain or an actor URL")
    if host.lower() != domain.lower():
        return None
    return name


def host_meta_xml(urls: Urls) -> str:
    """XRD pointing at our WebFinger endpoint (RFC 6415), as Mastodon serves it."""
    template = quoteattr(webfinger_template(urls))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<XRD xmlns="{XRD_NS}">\n'
        f'  <Link rel="lrdd" type="application/xrd+xml" template={template}/>\n'
        "</XRD>\n"
    )


def host_meta_json(urls: Urls) -> dict[str, Any]:
    return {"links": [{"rel": "lrdd", "template": webfinger_template(urls)}]}


def _is_ap_type(link_type: str) -> bool:
    media = link_type.split(";", 1)[0].strip().lower()
    return media in _AP_LINK_TYPES


def parse_webfinger(jrd: Any) -> str:
    """The actor URL in a remote JRD: the ``self`` link with an ActivityPub type.

    Mastodon lists ``application/activity+json``; some software uses
    ``application/ld+json; profile=...``. Links of other types (Atom, Salmon, magic keys)
    are ignored; a JRD with no usable link raises ``WebfingerError``.
    """
    if not isinstance(jrd, dict) or not isinstance(jrd.get("links"), list):
        raise WebfingerError("not a JRD document")
    for link in jrd["links"]:
        if not isinstance(link, dict) or link.get("rel") != "self":
            continue
        href, link_type = link.get("href"), link.get("type")
        if not isinstance(href, str) or not isinstance(link_type, str):
            continue
        if _is_ap_type(link_type) and urlsplit(href).scheme in ("http", "https"):
            return href
    raise WebfingerError("the JRD has no ActivityPub self link")
