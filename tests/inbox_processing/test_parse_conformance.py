"""Every activity of the conformance corpus read by the pure parsing layer, with the values
written down by hand from each file (what a careful reader of that JSON would expect)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from federation.parse import parse_activity, visibility_of
from tests.conformance import list_files, load_json

ADMIN = "http://mastodon.example.org/users/admin"
LAIN = "http://localtesting.pleroma.lol/users/lain"


@dataclass(frozen=True)
class Media:
    media_type: str
    url: str
    alt: str = ""
    blurhash: str | None = None
    focal_point: tuple[float, float] | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class NoteExpect:
    content: str
    sensitive: bool
    summary: str = ""
    media: tuple[Media, ...] = ()
    hashtags: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    in_reply_to: str | None = None
    visibility: str = "public"


@dataclass(frozen=True)
class Expect:
    type: str
    actor: str | None
    object_id: str
    object_type: str = ""
    note: NoteExpect | None = None
    extra: dict[str, Any] = field(default_factory=dict)


DOCS_CAT = "https://example.com/files/cats.png"
KDE_IMAGE = (
    "https://cdn.masto.host/floss/media_attachments/files/113/306/826/682/985/891/"
    "original/c8d906a2f2ab2334.jpg"
)
PIXELFED_IMAGE = (
    "https://pixelfed.social/storage/m/e64c75f2f4e9a621bb7c43ec9b04a165add6493b/"
    "b87fd76cbce4a613a9b9cba20f354709e67caf25/B4SHeEqWsj5t7qCIRzm7nvfCAtm31J8o12Ji1A2x.jpeg"
)
REL = 'rel="nofollow noopener noreferrer"'

EXPECTED: dict[str, Expect] = {
    "gotosocial-create-note.json": Expect(
        "Create",
        "http://localhost:8080/users/the_mighty_zork",
        "http://localhost:8080/users/the_mighty_zork/statuses/01F8MHAMCHF6Y650WCRSCP4WMY",
        "Note",
        NoteExpect("<p>hello everyone!</p>", True, summary="introduction post"),
    ),
    "mastodon-accept-follow.json": Expect(
        "Accept", ADMIN, f"{LAIN}#follows/4", "Follow", extra={"inner_actor": LAIN}
    ),
    "mastodon-announce.json": Expect(
        "Announce", ADMIN, "http://mastodon.example.org/@admin/99541947525187367"
    ),
    "mastodon-block.json": Expect("Block", ADMIN, LAIN),
    "mastodon-create-note-sensitive-cw.json": Expect(
        "Create",
        ADMIN,
        f"{ADMIN}/statuses/99512778738411822",
        "Note",
        NoteExpect(
            f'<p><span class="h-card"><a href="{LAIN}" class="u-url mention" {REL}>'
            "@<span>lain</span></a></span> #moo</p>",
            True,  # no "sensitive" at all, but a content warning: treated as sensitive
            summary="cw",
            hashtags=("NSFW",),
            mentions=(LAIN,),
        ),
    ),
    "mastodon-create-note-with-attachment-2018.json": Expect(
        "Create",
        ADMIN,
        f"{ADMIN}/statuses/99541822081679796",
        "Note",
        NoteExpect(
            '<p><a href="http://mastodon.example.org/media/hw4nrZmV5DPbW2z_hao" '
            f'{REL}><span class="invisible">http://</span><span class="ellipsis">'
            'mastodon.example.org/media/hw4</span><span class="invisible">nrZmV5DPbW2z_hao'
            "</span></a></p>",
            False,
            media=(
                Media(
                    "image/jpeg",
                    "http://mastodon.example.org/system/media_attachments/files/000/000/002/"
                    "original/334ce029e7bfb920.jpg",
                ),
            ),
        ),
    ),
    "mastodon-create-note.json": Expect(
        "Create",
        "https://mastodon.madrid/users/felix",
        "https://mastodon.madrid/users/felix/statuses/107224289116410645",
        "Note",
        NoteExpect(
            '<p><span class="h-card"><a href="https://mamot.fr/@retiolus" '
            f'class="u-url mention" {REL}>@<span>retiolus</span></a></span> i have never '
            "been disappointed by a thinkpad. if you want to save money, get a model from a "
            "few years ago, there isnt a huge difference anyway.</p>",
            False,
            mentions=("https://mamot.fr/users/retiolus",),
            in_reply_to="https://mamot.fr/users/retiolus/statuses/107224244380204526",
            visibility="unlisted",  # followers in to, Public in cc
        ),
    ),
    "mastodon-delete-actor.json": Expect("Delete", ADMIN, ADMIN, "Person"),
    "mastodon-delete-note.json": Expect(
        "Delete",
        "http://mastodon.example.org/users/gargron",
        "http://mastodon.example.org/users/gargron/statuses/99620895606148759",
        "Tombstone",
    ),
    "mastodon-docs-note-blurhash.json": Expect(
        "Note",
        None,
        "https://example.com/@alice/hello-world",
        "Note",
        NoteExpect(
            "A picture attached!",
            False,
            media=(Media("image/png", DOCS_CAT, blurhash="UBL_:rOpGG-oBUNG,qRj2so|=eE1w^n4S5NH"),),
            visibility="direct",  # the documentation example has no addressing at all
        ),
    ),
    "mastodon-docs-note-focalpoint.json": Expect(
        "Note",
        None,
        "https://example.com/@alice/hello-world",
        "Note",
        NoteExpect(
            "A picture attached!",
            False,
            media=(Media("image/png", DOCS_CAT, focal_point=(-0.55, 0.43)),),
            visibility="direct",
        ),
    ),
    "mastodon-flag-report.json": Expect(
        "Flag",
        "https://mastodon.example/actor",
        "https://example.com/users/1",
        extra={
            "object_ids": (
                "https://example.com/users/1",
                "https://example.com/posts/380590",
                "https://example.com/posts/380591",
            ),
            "content": "Please take a look at this user and their posts",
        },
    ),
    "mastodon-follow.json": Expect("Follow", ADMIN, LAIN),
    "mastodon-like.json": Expect(
        "Like",
        ADMIN,
        "http://localtesting.pleroma.lol/objects/eb92579d-3417-42a8-8652-2492c2d4f454",
    ),
    "mastodon-note-with-image-blurhash-focalpoint-alt.json": Expect(
        "Note",
        "https://floss.social/users/kde",
        "https://floss.social/users/kde/statuses/113306831140126616",
        "Note",
        NoteExpect(
            '<p><span class="h-card"><a href="https://lemmy.kde.social/c/kde" '
            f'class="u-url mention" {REL}>@<span>kde@lemmy.kde.social</span></a></span> </p>'
            "<p>We also need funding 💶 to keep the gears turning! Please support us with a "
            f'donation:</p><p><a href="https://kde.org/donate/" {REL}><span class="invisible">'
            'https://</span><span class="">kde.org/donate/</span><span class="invisible">'
            "</span></a></p><p>[3/3]</p>",
            False,
            media=(
                Media(
                    "image/jpeg",
                    KDE_IMAGE,
                    alt="The KDE dragons Katie and Konqi stand on either side of a pot "
                    "filling up with gold coins. Donate!",
                    blurhash="USQv:h-W-qI-^,W;RPs=^-R%NZxbo#sDobSc",
                    focal_point=(0.0, 0.0),
                    width=1500,
                    height=1095,
                ),
            ),
            mentions=("https://lemmy.kde.social/c/kde",),
            in_reply_to="https://floss.social/users/kde/statuses/113306824627995724",
        ),
    ),
    "mastodon-reject-follow.json": Expect(
        "Reject", ADMIN, f"{LAIN}#follows/4", "Follow", extra={"inner_actor": LAIN}
    ),
    "mastodon-undo-announce.json": Expect(
        "Undo",
        ADMIN,
        f"{ADMIN}/statuses/99542391527669785/activity",
        "Announce",
        extra={"inner_actor": ADMIN},
    ),
    "mastodon-undo-follow.json": Expect(
        "Undo", ADMIN, f"{ADMIN}#follows/2", "Follow", extra={"inner_actor": ADMIN}
    ),
    "mastodon-undo-like.json": Expect(
        "Undo", ADMIN, f"{ADMIN}#likes/2", "Like", extra={"inner_actor": ADMIN}
    ),
    "mastodon-update-actor.json": Expect(
        "Update",
        "http://mastodon.example.org/users/gargron",
        "http://mastodon.example.org/users/gargron",
        "Person",
    ),
    "pixelfed-note-with-image.json": Expect(
        "Note",
        "https://pixelfed.social/users/dansup",
        "https://pixelfed.social/p/dansup/2",
        "Note",
        NoteExpect(
            "This was my first IG post too. #mazda #zoomzoom",
            False,
            media=(Media("image/jpeg", PIXELFED_IMAGE),),
            hashtags=("mazda", "zoomzoom"),
        ),
    ),
    "pixelfed-tests-follow.json": Expect("Follow", ADMIN, "http://pixelfed.dev/users/dsup"),
    "pixelfed-tests-like-with-ld-signature.json": Expect("Like", ADMIN, "http://pixelfed.dev/p/1"),
    "pixelfed-tests-mastodon-create-with-image.json": Expect(
        "Create",
        "https://mastodon.social/users/dansup",
        "https://mastodon.social/users/dansup/statuses/100889802384218791",
        "Note",
        NoteExpect(
            '<p>Good Morning! <a href="https://mastodon.social/tags/coffee" '
            f'class="mention hashtag" {REL}>#<span>coffee</span></a></p>',
            False,
            media=(
                Media(
                    "image/jpeg",
                    "https://files.mastodon.social/media_attachments/files/007/110/573/"
                    "original/96a196885a77c9a4.jpg",
                ),
            ),
            hashtags=("coffee",),
        ),
    ),
    "pleroma-create-note.json": Expect(
        "Create",
        "https://greenish.red/users/nutomic",
        "https://greenish.red/objects/1a522f2e-d5ab-454b-93d7-e58bc0650c2a",
        "Note",
        NoteExpect(
            '<span class="h-card"><a class="u-url mention" '
            f'href="https://enterprise.lemmy.ml/u/picard" {REL}>@<span>lanodan</span></a>'
            "</span> test",
            False,
            mentions=("https://enterprise.lemmy.ml/u/picard",),
            in_reply_to="https://enterprise.lemmy.ml/post/55143",
        ),
    ),
}


def test_every_corpus_activity_has_expectations() -> None:
    """A file added to the corpus must get its own expectations here."""
    files = list_files("activities")
    if not files:
        load_json("activities/mastodon-like.json")  # skips (or fails) with the reason
    assert sorted(EXPECTED) == files


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_activity_is_read(name: str) -> None:
    expect = EXPECTED[name]
    activity = parse_activity(load_json(f"activities/{name}"))
    assert activity.type == expect.type
    assert activity.actor == expect.actor
    assert activity.object_id == expect.object_id
    assert activity.object_type == expect.object_type
    if "object_ids" in expect.extra:
        assert activity.object_ids == expect.extra["object_ids"]
    if "content" in expect.extra:
        assert activity.content == expect.extra["content"]
    if "inner_actor" in expect.extra:
        assert activity.object["actor"] == expect.extra["inner_actor"]
    if expect.note is None:
        assert activity.note is None
        return
    note, want = activity.note, expect.note
    assert note is not None
    assert note.id == expect.object_id
    assert note.content_html == want.content
    assert note.sensitive is want.sensitive
    assert note.summary == want.summary
    assert note.hashtags == want.hashtags
    assert note.mentions == want.mentions
    assert note.in_reply_to == want.in_reply_to
    assert visibility_of(note.to, note.cc) == want.visibility
    got = tuple(
        Media(a.media_type, a.url, a.alt, a.blurhash, a.focal_point, a.width, a.height)
        for a in note.attachments
    )
    assert got == want.media
    assert all(a.kind == "image" for a in note.attachments)
