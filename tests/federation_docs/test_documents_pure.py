"""The document builders on plain rows: Create wrapping, edits, replies, addressing."""

from __future__ import annotations

from datetime import UTC, datetime

from federation.documents import (
    addressing,
    create_activity,
    note_document,
    note_object,
    tombstone_document,
)
from federation.urls import Urls
from federation.vocab import PUBLIC, iso
from storage.models import Actor, MediaAttachment, Post, Tombstone

URLS = Urls("https://gallery.test")


def author() -> Actor:
    return Actor(
        id=1,
        username="alice",
        username_lower="alice",
        ap_id=URLS.actor("alice"),
        followers_url=URLS.followers("alice"),
        private_key_pem="-----BEGIN PRIVATE KEY-----secret",
    )


def post(**kw) -> Post:  # type: ignore[no-untyped-def]
    values = {
        "id": 7,
        "actor_id": 1,
        "ap_id": URLS.post_id("alice", 7),
        "url": URLS.post_page("alice", 7),
        "content_html": "<p>hi</p>",
        "created_at": datetime(2024, 5, 1, 12, 0, 0),
    }
    values.update(kw)
    return Post(**values)


def test_create_wraps_the_note() -> None:
    note = note_object(post(), author(), [], [], URLS)
    create = create_activity(note)
    assert create["id"] == f"{note['id']}#create"
    assert create["type"] == "Create"
    assert create["actor"] == URLS.actor("alice")
    assert create["published"] == "2024-05-01T12:00:00Z"
    assert create["to"] == note["to"] == [PUBLIC]
    assert create["cc"] == note["cc"] == [URLS.followers("alice")]
    assert create["object"] is note
    assert "@context" not in note


def test_edited_reply_with_language() -> None:
    edited = datetime(2024, 5, 2, 8, 30, tzinfo=UTC)
    doc = note_document(
        post(edited_at=edited, in_reply_to_ap_id="https://x.example/n/1", language="en"),
        author(),
        [],
        [],
        URLS,
    )
    assert doc["@context"][0] == "https://www.w3.org/ns/activitystreams"
    assert doc["updated"] == "2024-05-02T08:30:00Z"
    assert doc["inReplyTo"] == "https://x.example/n/1"
    assert doc["contentMap"] == {"en": "<p>hi</p>"}
    assert "secret" not in str(doc)


def test_attachments_sorted_by_position() -> None:
    media = [
        MediaAttachment(id=i, actor_id=1, position=p, original_key=f"k{p}.png", original_mime="")
        for i, p in ((1, 2), (2, 0), (3, 1))
    ]
    doc = note_object(post(), author(), media, [], URLS)
    assert [a["url"] for a in doc["attachment"]] == [URLS.media(f"k{p}.png") for p in range(3)]
    assert doc["attachment"][0]["mediaType"] == "image/png"  # from the key when not stored


def test_addressing() -> None:
    f = "https://gallery.test/users/alice/followers"
    assert addressing("public", f) == ([PUBLIC], [f])
    assert addressing("unlisted", f) == ([f], [PUBLIC])
    assert addressing("followers", f) == ([f], [])
    assert addressing("direct", f) == ([], [])


def test_tombstone_and_iso() -> None:
    tomb = Tombstone(
        ap_id="https://gallery.test/users/a/statuses/1", deleted_at=datetime(2024, 1, 1)
    )
    doc = tombstone_document(tomb, URLS)
    assert doc["type"] == "Tombstone" and doc["formerType"] == "Note"
    assert doc["deleted"] == "2024-01-01T00:00:00Z"
    assert iso(datetime(2024, 1, 1, 23, 0, tzinfo=UTC)) == "2024-01-01T23:00:00Z"
