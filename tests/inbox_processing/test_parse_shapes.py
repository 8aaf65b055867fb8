"""The tolerant shapes the parser reads beyond the corpus: Link objects and lists as URLs,
alt text in ``summary``, odd focal points, content only in ``contentMap``, Articles and
Questions, and the HTML allow-list."""

from __future__ import annotations

from typing import Any

import pytest

from federation.parse import (
    as_list,
    first,
    id_of,
    parse_activity,
    parse_attachment,
    parse_note,
    plain_text,
    sanitize_html,
    visibility_of,
)
from federation.parse_parts import MAX_DIMENSION, MAX_URL_LENGTH
from federation.vocab import PUBLIC

NOTE = "https://remote.example/notes/1"


def note(**fields: Any) -> dict[str, Any]:
    return {"id": NOTE, "type": "Note", "attributedTo": "https://remote.example/u/a", **fields}


def test_reference_helpers() -> None:
    assert as_list(None) == [] and as_list("a") == ["a"] and as_list(["a", "b"]) == ["a", "b"]
    assert first([]) is None and first("x") == "x" and first(["x", "y"]) == "x"
    assert id_of("https://a/b") == "https://a/b"
    assert id_of({"id": "https://a/b", "type": "Person"}) == "https://a/b"
    assert id_of({"type": "Link", "href": "https://a/c"}) == "https://a/c"
    assert id_of([{"id": "https://a/d"}]) == "https://a/d"
    assert id_of({"type": "Note"}) is None and id_of(42) is None and id_of("  ") is None


@pytest.mark.parametrize(
    ("url", "expected_url", "expected_type"),
    [
        ("https://r.example/a.png", "https://r.example/a.png", ""),
        ({"type": "Link", "href": "https://r.example/b.png", "mediaType": "image/png"},
         "https://r.example/b.png", "image/png"),
        (
            [
                {"type": "Link", "href": "https://r.example/c.mp4", "mediaType": "video/mp4"},
                {"type": "Link", "href": "https://r.example/c.webp", "mediaType": "image/webp"},
            ],
            "https://r.example/c.webp",
            "image/webp",
        ),
        (["https://r.example/d.jpg", "https://r.example/e.jpg"], "https://r.example/d.jpg", ""),
    ],
)  # fmt: skip
def test_attachment_url_shapes(url: Any, expected_url: str, expected_type: str) -> None:
    parsed = parse_attachment({"type": "Document", "url": url})
    assert parsed is not None
    assert (parsed.url, parsed.media_type) == (expected_url, expected_type)


def test_alt_text_comes_from_summary_or_name() -> None:
    by_summary = parse_attachment({"type": "Image", "url": "https://r/x.png", "summary": "cat"})
    by_name = parse_attachment({"type": "Image", "url": "https://r/x.png", "name": "dog"})
    both = parse_attachment(
        {"type": "Image", "url": "https://r/x.png", "summary": "sum", "name": "name"}
    )
    null_summary = parse_attachment(
        {"type": "Image", "url": "https://r/x.png", "summary": None, "name": "named"}
    )
    assert [a.alt for a in (by_summary, by_name, both, null_summary) if a] == [
        "cat",
        "dog",
        "sum",  # Mastodon reads summary first
        "named",
    ]
    long = parse_attachment({"type": "Image", "url": "https://r/x.png", "name": "a" * 20_000})
    assert long is not None and len(long.alt) == 10_000


@pytest.mark.parametrize(
    ("focal", "expected"),
    [
        ([0.5, -0.25], (0.5, -0.25)),
        ([3, -9], (1.0, -1.0)),  # clamped into -1..1
        (["0.1", "0.2"], (0.1, 0.2)),
        ([0.1], None),
        ("middle", None),
        ([float("nan"), 0], None),
        ([True, 0], None),  # JSON true is no coordinate
        (["1e999", 0], None),
        (None, None),
    ],
)
def test_focal_points(focal: Any, expected: tuple[float, float] | None) -> None:
    parsed = parse_attachment({"type": "Image", "url": "https://r/x.png", "focalPoint": focal})
    assert parsed is not None and parsed.focal_point == expected


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        (640, 640),
        ("640", 640),
        (640.0, 640),
        (MAX_DIMENSION, MAX_DIMENSION),
        (MAX_DIMENSION + 1, None),
        (10**30, None),  # would not even fit an integer column
        (1e20, None),
        ("9" * 5_000, None),  # int() refuses over 4,300 digits: must not raise
        (0, None),
        (-480, None),
        ("-480", None),
        (640.5, None),
        (0.5, None),
        (float("inf"), None),
        (float("nan"), None),
        (True, None),
        ("²", None),
        ("", None),
        ("640px", None),
        ([640], None),
        (None, None),
    ],
)
def test_declared_width_and_height_are_sane_or_dropped(declared: Any, expected: int | None) -> None:
    parsed = parse_attachment(
        {"type": "Image", "url": "https://r/x.png", "width": declared, "height": declared}
    )
    assert parsed is not None and (parsed.width, parsed.height) == (expected, expected)


@pytest.mark.parametrize(
    ("blurhash", "kept"),
    [
        ("UBL_:rOpGG-oBUNG,qRj2so|=eE1w^n4S5NH", True),  # 4x4 components: 36 characters
        ("00AAAA", True),  # 1x1: the shortest there is
        ("UBL_:rOpGG-oBUNG,qRj2so|=eE1w^n4S5N", False),  # one character short of 4x4
        ("UBL_:rOpGG-oBUNG,qRj2so|=eE1w^n4S5NHH", False),
        ("UBL_:rOpGG-oBUNG,qRj2so|=eE1w^n4S5N<", False),  # not base 83
        ("UBL_:rOpGG-oBUNG,qRj2so|=eE1w^n4S5N ", False),
        ("|" + "A" * 165, False),  # 9x9 is decodable but longer than the column
        ("}" + "A" * 23, False),  # 81 would be 1x10: past the 9x9 the format allows
        ("~" + "A" * 43, False),  # 82 would be 2x10
        ("D" + "A" * 23, True),  # 13 is 5x2: the length "}" implies, and in the format
        ("00AAA", False),
        (12345678, False),
        (None, False),
    ],
)
def test_blurhash_must_be_decodable(blurhash: Any, kept: bool) -> None:
    parsed = parse_attachment({"type": "Image", "url": "https://r/x.png", "blurhash": blurhash})
    assert parsed is not None and parsed.blurhash == (blurhash if kept else None)


def test_overlong_url_and_media_type() -> None:
    long_url = "https://r.example/" + "a" * MAX_URL_LENGTH
    assert parse_attachment({"type": "Image", "url": long_url}) is None
    fits = "https://r.example/" + "a" * (MAX_URL_LENGTH - len("https://r.example/"))
    kept = parse_attachment({"type": "Image", "url": fits})
    assert kept is not None and kept.url == fits
    odd = parse_attachment(
        {"type": "Image", "url": "https://r/x.png", "mediaType": "image/" + "x" * 300}
    )
    assert odd is not None and odd.media_type == "" and odd.kind == "image"


def test_unusable_attachments_are_skipped() -> None:
    assert parse_attachment({"type": "Image"}) is None
    assert parse_attachment({"type": "Image", "url": "javascript:alert(1)"}) is None
    assert parse_attachment(7) is None
    video = parse_attachment({"type": "Video", "url": "https://r/v.mp4", "width": "640"})
    assert video is not None and video.kind == "video" and video.width == 640
    parsed = parse_note(note(attachment={"type": "Image", "url": "https://r/single.png"}))
    assert parsed is not None and [a.url for a in parsed.attachments] == ["https://r/single.png"]


def test_sensitive_follows_the_content_warning() -> None:
    def sensitive(**fields: Any) -> bool:
        parsed = parse_note(note(**fields))
        assert parsed is not None
        return parsed.sensitive

    assert sensitive(summary="spoilers") is True
    assert sensitive(summary="spoilers", sensitive=False) is True  # a CW always hides
    assert sensitive(sensitive=True) is True
    assert sensitive(summary="", sensitive=False) is False
    assert sensitive(summary=None) is False


def test_content_from_content_map_and_other_types() -> None:
    mapped = parse_note(note(contentMap={"de": "<p>Hallo</p>"}))
    assert mapped is not None and (mapped.content_html, mapped.language) == ("<p>Hallo</p>", "de")
    article = parse_note(
        {"id": NOTE, "type": "Article", "name": "Title <b>", "content": "<p>Body</p>"}
    )
    assert article is not None
    assert article.content_html == "<p><strong>Title &lt;b&gt;</strong></p><p>Body</p>"
    question = parse_note(
        {
            "id": NOTE,
            "type": "Question",
            "content": "<p>Which?</p>",
            "oneOf": [{"type": "Note", "name": "Red"}, {"type": "Note", "name": "Blue"}],
        }
    )
    assert question is not None
    assert question.content_html == "<p>Which?</p><ul><li>Red</li><li>Blue</li></ul>"
    assert parse_note({"type": "Note", "content": "no id"}) is None
    assert parse_note({"id": NOTE, "type": "Person"}) is None


def test_context_less_bare_and_listed_shapes() -> None:
    activity = parse_activity(
        {
            "type": "Create",
            "id": f"{NOTE}/activity",
            "actor": [{"id": "https://remote.example/u/a", "type": "Person"}],
            "object": [note(content="hi", to=PUBLIC, tag={"type": "Hashtag", "name": "#Art"})],
        }
    )
    assert activity.actor == "https://remote.example/u/a"
    assert activity.object_id == NOTE and activity.object_type == "Note"
    assert activity.note is not None and activity.note.hashtags == ("Art",)
    assert visibility_of(activity.note.to, activity.note.cc) == "public"
    typed = parse_activity({"type": ["Like", "as:Like"], "actor": "https://a/u", "object": NOTE})
    assert typed.type == "Like" and typed.object_id == NOTE and typed.note is None


@pytest.mark.parametrize(
    ("to", "cc", "followers", "expected"),
    [
        ([PUBLIC], [], None, "public"),
        (["as:Public"], [], None, "public"),
        (["https://r/u/a/followers"], [PUBLIC], None, "unlisted"),
        (["https://r/u/a/followers"], [], "https://r/u/a/followers", "followers"),
        (["https://r/u/a/fans"], [], "https://r/u/a/fans", "followers"),
        (["https://r/u/a/followers"], [], None, "followers"),
        (["https://gallery.test/users/alice"], [], "https://r/u/a/followers", "direct"),
        ([], [], None, "direct"),
    ],
)
def test_visibility_from_addressing(
    to: list[str], cc: list[str], followers: str | None, expected: str
) -> None:
    assert visibility_of(to, cc, followers) == expected


def test_html_is_reduced_to_the_allow_list() -> None:
    dirty = (
        '<p onclick="steal()">Hi <a href="javascript:alert(1)">x</a>'
        '<a href="https://ok.example/" rel="me" target="_blank" class="mention">ok</a>'
        '<script>alert(1)</script><style>p{}</style><img src="https://t/p.gif">'
        '<iframe src="https://evil"></iframe><span class="h-card" style="color:red">s</span>'
        "<h1>big</h1><blockquote><code>c</code></blockquote></p>"
    )
    assert sanitize_html(dirty) == (
        '<p>Hi <a rel="nofollow noopener noreferrer">x</a>'
        '<a href="https://ok.example/" class="mention" rel="nofollow noopener noreferrer">ok</a>'
        # an <h1> closes the open <p> (HTML5 parsing); the heading's text stays
        '<span class="h-card">s</span></p>big<blockquote><code>c</code></blockquote><p></p>'
    )
    assert plain_text("<p>One &amp; two</p><p>three<br>four</p>") == "One & two\n\nthree\nfour"
