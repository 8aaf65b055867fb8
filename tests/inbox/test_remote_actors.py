"""parse_actor on every actor document of the conformance corpus, and on the shapes real
servers send that the corpus does not happen to contain."""

from __future__ import annotations

import json
from typing import Any

import pytest

from federation.keys import load_public_key
from federation.remote_actors import is_key_document, parse_actor, sanitize_html
from tests.conformance import conformance_dir, list_files

# file -> (username, inbox, shared inbox, key id)
EXPECTED: dict[str, tuple[str, str | None, str | None, str]] = {
    "gotosocial-docs-actor-keyid-without-fragment.json": (
        "example_user",
        None,
        None,
        "https://example.org/users/example_user/main-key",
    ),
    "gotosocial-person.json": (
        "the_mighty_zork",
        "http://localhost:8080/users/the_mighty_zork/inbox",
        None,
        "http://localhost:8080/users/the_mighty_zork/main-key",
    ),
    "mastodon-actor.http.txt": (
        "foo",
        "https://ap.example.com/users/foo/inbox",
        "https://ap.example.com/inbox",
        "https://ap.example.com/users/foo#main-key",
    ),
    "mastodon-actor.json": (
        "foo",
        "https://ap.example.com/users/foo/inbox",
        "https://ap.example.com/inbox",
        "https://ap.example.com/users/foo#main-key",
    ),
    "mastodon-person-real.json": (
        "mastodon",
        "https://masto.qa.urbanwildlife.biz/users/mastodon/inbox",
        "https://masto.qa.urbanwildlife.biz/inbox",
        "https://masto.qa.urbanwildlife.biz/users/mastodon#main-key",
    ),
    "pleroma-person.json": (
        "lanodan",
        "https://queer.hacktivis.me/users/lanodan/inbox",
        "https://queer.hacktivis.me/inbox",
        "https://queer.hacktivis.me/users/lanodan#main-key",
    ),
}

CORPUS = list_files("actors", ".json") + list_files("actors", ".http.txt")


def load_actor(name: str) -> dict[str, Any]:
    raw = (conformance_dir() / "actors" / name).read_text(encoding="utf-8")
    if name.endswith(".http.txt"):
        head, _, body = raw.replace("\r\n", "\n").partition("\n\n")
        assert "application/activity+json" in head.lower()
        raw = body
    document = json.loads(raw)
    assert isinstance(document, dict)
    return document


def test_corpus_is_present() -> None:
    conformance_dir()
    assert CORPUS, "no actor documents in the corpus"


@pytest.mark.parametrize("name", CORPUS)
def test_corpus_actor(name: str) -> None:
    assert name in EXPECTED, f"new corpus file {name}: add its expectations"
    document = load_actor(name)
    fields = parse_actor(document, fetched_from=document["id"])
    assert fields is not None
    username, inbox, shared_inbox, key_id = EXPECTED[name]
    assert fields.username == username
    assert fields.inbox == inbox
    assert fields.shared_inbox == shared_inbox
    assert fields.key_id == key_id
    assert fields.ap_id == document["id"]
    assert fields.actor_type == "Person"
    assert fields.public_key_pem is not None
    load_public_key(fields.public_key_pem)  # raises if unusable
    assert "<script" not in fields.summary_html


def test_corpus_details() -> None:
    zork = parse_actor(load_actor("gotosocial-person.json"), fetched_from="http://localhost:8080/")
    assert zork is not None
    assert zork.domain == "localhost:8080"
    assert zork.display_name == "original zork (he/they)"
    assert zork.avatar_url and zork.avatar_url.endswith("01F8MH58A357CV5K7R7TJMSH6S.jpg")
    assert zork.header_url and zork.header_url.endswith("01PFPMWK2FF0D9WMHEJHR07C3Q.jpg")
    assert zork.url == "http://localhost:8080/@the_mighty_zork"
    assert zork.discoverable is True
    pleroma = load_actor("pleroma-person.json")
    lanodan = parse_actor(pleroma, fetched_from=pleroma["id"])
    assert lanodan is not None
    assert lanodan.domain == "queer.hacktivis.me"
    assert 'rel="nofollow noopener noreferrer"' in lanodan.summary_html
    assert "data-tag" not in lanodan.summary_html
    assert '<a class="hashtag" href="https://queer.hacktivis.me/tag/nobot"' in lanodan.summary_html


def test_key_id_without_fragment_is_taken_as_published() -> None:
    document = load_actor("gotosocial-docs-actor-keyid-without-fragment.json")
    fields = parse_actor(document, fetched_from="https://example.org/users/example_user")
    assert fields is not None
    assert fields.key_id == "https://example.org/users/example_user/main-key"
    assert "#" not in fields.key_id
    assert not is_key_document(document)
    key_document = {
        "id": fields.key_id,
        "owner": fields.ap_id,
        "publicKeyPem": fields.public_key_pem,
    }
    assert is_key_document(key_document)


# --- tolerance and strictness, on a minimal document ----------------------------------

PEM = (
    load_actor("mastodon-actor.json")["publicKey"]["publicKeyPem"]
    if CORPUS
    else "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"
)
BASE = "https://remote.example/users/ann"


def doc(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": BASE,
        "type": "Person",
        "preferredUsername": "ann",
        "inbox": f"{BASE}/inbox",
        "publicKey": {"id": f"{BASE}#main-key", "owner": BASE, "publicKeyPem": PEM},
    }
    document.update(changes)
    return {k: v for k, v in document.items() if v is not None}


@pytest.mark.parametrize("kind", ["Person", "Service", "Application", "Group", "Organization"])
def test_actor_types(kind: str) -> None:
    fields = parse_actor(doc(type=kind), fetched_from=BASE)
    assert fields is not None and fields.actor_type == kind


def test_no_context_and_list_type_are_fine() -> None:
    fields = parse_actor(doc(type=["Person", "ex:Artist"]), fetched_from=BASE)
    assert fields is not None and fields.actor_type == "Person"


@pytest.mark.parametrize(
    ("changes", "fetched_from"),
    [
        ({"type": "Note"}, BASE),
        ({"preferredUsername": None}, BASE),
        ({"preferredUsername": ""}, BASE),
        ({"preferredUsername": "ann smith"}, BASE),
        ({"preferredUsername": "ann@elsewhere"}, BASE),
        ({"id": None}, BASE),
        ({"id": "ftp://remote.example/users/ann"}, BASE),
        ({}, "https://other.example/users/ann"),  # the id is on another host
        ({}, "https://remote.example:8443/users/ann"),  # another port is another host
    ],
)
def test_unusable_documents(changes: dict[str, Any], fetched_from: str) -> None:
    assert parse_actor(doc(**changes), fetched_from=fetched_from) is None


def test_icon_shapes() -> None:
    url = "https://remote.example/a.png"
    for icon in [
        {"type": "Image", "url": url},
        [{"type": "Image", "url": url}, {"type": "Image", "url": "https://remote.example/b.png"}],
        url,
        {"type": "Image", "url": {"type": "Link", "href": url}},
        {"type": "Image", "url": [{"type": "Link", "href": url}]},
    ]:
        fields = parse_actor(doc(icon=icon), fetched_from=BASE)
        assert fields is not None and fields.avatar_url == url, icon
    fields = parse_actor(
        doc(icon={"type": "Image", "url": "javascript:alert(1)"}), fetched_from=BASE
    )
    assert fields is not None and fields.avatar_url is None


def test_public_key_list_picks_the_wanted_key() -> None:
    keys = [
        {"id": f"{BASE}#other", "owner": BASE, "publicKeyPem": PEM},
        {"id": f"{BASE}#main-key", "owner": BASE, "publicKeyPem": PEM},
    ]
    wanted = parse_actor(doc(publicKey=keys), fetched_from=BASE, want_key_id=f"{BASE}#main-key")
    assert wanted is not None and wanted.key_id == f"{BASE}#main-key"
    first = parse_actor(doc(publicKey=keys), fetched_from=BASE)
    assert first is not None and first.key_id == f"{BASE}#other"


def test_keys_of_other_actors_or_hosts_are_ignored() -> None:
    for key in [
        {
            "id": f"{BASE}#main-key",
            "owner": "https://remote.example/users/bob",
            "publicKeyPem": PEM,
        },
        {"id": "https://evil.example/keys/1", "owner": BASE, "publicKeyPem": PEM},
        {"id": f"{BASE}#main-key", "owner": BASE},
        f"{BASE}#main-key",
    ]:
        fields = parse_actor(doc(publicKey=key), fetched_from=BASE)
        assert fields is not None and fields.key_id is None and fields.public_key_pem is None, key


def test_endpoints_and_references_as_objects() -> None:
    fields = parse_actor(
        doc(
            inbox={"id": f"{BASE}/inbox"},
            outbox=f"{BASE}/outbox",
            endpoints={"sharedInbox": "https://remote.example/inbox"},
            url=[
                {"type": "Link", "mediaType": "application/activity+json", "href": BASE},
                {"type": "Link", "mediaType": "text/html", "href": "https://remote.example/@ann"},
            ],
        ),
        fetched_from=BASE,
    )
    assert fields is not None
    assert fields.inbox == f"{BASE}/inbox"
    assert fields.outbox == f"{BASE}/outbox"
    assert fields.shared_inbox == "https://remote.example/inbox"
    assert fields.url == "https://remote.example/@ann"
    odd = parse_actor(doc(endpoints="https://remote.example/endpoints"), fetched_from=BASE)
    assert odd is not None and odd.shared_inbox is None


def test_display_name_is_plain_capped_text() -> None:
    fields = parse_actor(
        doc(name="  Ann\u202e\x00  of\n\tthe   <b>Hills</b> " + "x" * 300), fetched_from=BASE
    )
    assert fields is not None
    assert fields.display_name.startswith("Ann of the <b>Hills</b> x")
    assert len(fields.display_name) == 100
    assert "\u202e" not in fields.display_name


def test_summary_is_sanitised() -> None:
    html = (
        '<p onclick="x()">Hi <script>alert(1)</script><a href="javascript:alert(1)">bad</a> '
        '<a href="https://remote.example/tags/art" class="hashtag" target="_blank">#art</a>'
        '<img src="https://t.example/pixel.gif"><style>p{}</style><span class="h-card">@a</span></p>'
    )
    assert sanitize_html(html) == (
        '<p>Hi <a rel="nofollow noopener noreferrer">bad</a> '
        '<a href="https://remote.example/tags/art" class="hashtag" '
        'rel="nofollow noopener noreferrer">#art</a><span class="h-card">@a</span></p>'
    )
    fields = parse_actor(doc(summary=html), fetched_from=BASE)
    assert fields is not None and fields.summary_html == sanitize_html(html)
