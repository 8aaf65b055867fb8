"""WebFinger resources and JRDs, read and written without HTTP, against real documents."""

from __future__ import annotations

import json

import pytest

from federation.discovery import (
    BadResource,
    WebfingerError,
    host_meta_json,
    host_meta_xml,
    local_username_from_resource,
    parse_webfinger,
    webfinger_jrd,
)
from federation.urls import Urls
from tests.conformance import conformance_dir, load_json

URLS = Urls("https://gallery.test")


def resolve(resource: str) -> str | None:
    return local_username_from_resource(resource, domain="gallery.test", urls=URLS)


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ("acct:alice@gallery.test", "alice"),
        ("acct:Alice@GALLERY.test", "Alice"),
        ("alice@gallery.test", "alice"),
        ("@alice@gallery.test", "alice"),
        ("https://gallery.test/users/alice", "alice"),
        ("https://GALLERY.test/@alice", "alice"),
        ("https://gallery.test/actor", "gallery.test"),
        ("acct:gallery.test@gallery.test", "gallery.test"),
        ("acct:alice@elsewhere.example", None),
        ("https://elsewhere.example/users/alice", None),
        ("http://gallery.test/users/alice", None),  # another origin (scheme)
        ("https://gallery.test/tags/alice", None),
        ("https://gallery.test/users/alice/outbox", None),
    ],
)
def test_resources(resource: str, expected: str | None) -> None:
    assert resolve(resource) == expected


@pytest.mark.parametrize(
    "resource", ["", "   ", "acct:", "acct:alice", "acct:@gallery.test", "alice@", "acct:a/b@c"]
)
def test_malformed_resources(resource: str) -> None:
    with pytest.raises(BadResource):
        resolve(resource)


def test_our_jrd_reads_back_with_our_parser() -> None:
    jrd = webfinger_jrd(
        username="alice",
        domain="gallery.test",
        actor_url=URLS.actor("alice"),
        profile_url=URLS.profile("alice"),
        urls=URLS,
    )
    assert parse_webfinger(jrd) == "https://gallery.test/users/alice"
    assert jrd["subject"] == "acct:alice@gallery.test"
    assert jrd["aliases"] == ["https://gallery.test/@alice", "https://gallery.test/users/alice"]


@pytest.mark.parametrize(
    ("name", "actor"),
    [
        ("mastodon-docs-webfinger-gargron.json", "https://mastodon.social/users/Gargron"),
        ("mastodon-social-webfinger-emelie.json", "https://mastodon.social/users/emelie"),
        ("mastodon-webfinger.json", "https://ap.example.com/users/foo"),
    ],
)
def test_parse_real_jrds(name: str, actor: str) -> None:
    assert parse_webfinger(load_json(f"webfinger/{name}")) == actor


def test_parse_raw_http_response() -> None:
    raw = (conformance_dir() / "webfinger" / "mastodon-webfinger.http.txt").read_bytes()
    raw = raw.replace(b"\r\n", b"\n")
    head, _, body = raw.partition(b"\n\n")
    headers = dict(line.split(": ", 1) for line in head.decode().split("\n")[1:] if ": " in line)
    assert headers["Content-Type"].startswith("application/jrd+json")
    assert parse_webfinger(json.loads(body)) == "https://ap.example.com/users/foo"


@pytest.mark.parametrize(
    "jrd",
    [
        None,
        [],
        {"subject": "acct:a@b"},
        {"links": [{"rel": "self", "type": "text/html", "href": "https://b/@a"}]},
        {"links": [{"rel": "self", "type": "application/activity+json", "href": "ftp://b/a"}]},
        {"links": [{"rel": "profile", "type": "application/activity+json", "href": "https://b"}]},
    ],
)
def test_parse_refuses_jrds_without_an_actor(jrd: object) -> None:
    with pytest.raises(WebfingerError):
        parse_webfinger(jrd)


def test_parse_accepts_ld_json_with_profile() -> None:
    jrd = {
        "links": [
            {
                "rel": "self",
                "type": 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"',
                "href": "https://b.example/u/a",
            }
        ]
    }
    assert parse_webfinger(jrd) == "https://b.example/u/a"


def test_host_meta_documents() -> None:
    xml = host_meta_xml(URLS)
    assert 'template="https://gallery.test/.well-known/webfinger?resource={uri}"' in xml
    assert "http://docs.oasis-open.org/ns/xri/xrd-1.0" in xml
    assert host_meta_json(URLS)["links"][0]["rel"] == "lrdd"
