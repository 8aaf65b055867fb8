"""Reading mentions out of a caption and linking the resolved ones (pure functions)."""

from __future__ import annotations

from federation.content import extract_mentions, mention_html, mention_key, render_caption


def test_extract_mentions_in_order_deduplicated() -> None:
    text = "@carol, hi @bob@Example.com and @BOB@example.COM again, and @carol."
    assert extract_mentions(text) == [("carol", None), ("bob", "Example.com")]


def test_what_is_not_a_mention() -> None:
    text = "mail me@example.com, see https://example.com/@zed or a=@x, path/@y"
    assert extract_mentions(text) == []


def test_mention_edges() -> None:
    assert extract_mentions("(@ann)") == [("ann", None)]
    assert extract_mentions("@ann_b.c-d@host.example.") == [("ann_b.c-d", "host.example")]
    assert extract_mentions("@dev@127.0.0.1:8080!") == [("dev", "127.0.0.1:8080")]
    assert extract_mentions("@trailing.") == [("trailing", None)]
    assert extract_mentions("@@double") == []


def test_render_links_only_resolved_mentions() -> None:
    links = {
        mention_key("carol", None): "http://gallery.test/@carol",
        mention_key("bob", "example.com"): "https://example.com/@bob",
    }
    html = render_caption(
        "Hi @carol and @Bob@example.com, not @nobody@example.com #art",
        tag_url="http://gallery.test/tags",
        mentions=links,
    )
    assert html == (
        "<p>Hi "
        '<span class="h-card"><a href="http://gallery.test/@carol" class="u-url mention">'
        "@<span>carol</span></a></span> and "
        '<span class="h-card"><a href="https://example.com/@bob" class="u-url mention">'
        "@<span>Bob</span></a></span>, not @nobody@example.com "
        '<a href="http://gallery.test/tags/art" class="mention hashtag" rel="tag">'
        "#<span>art</span></a></p>"
    )


def test_render_without_mentions_is_unchanged_and_escaped() -> None:
    assert render_caption("@carol <b>", tag_url="/tags") == "<p>@carol &lt;b&gt;</p>"
    assert mention_html('x"y', 'http://a/"><script>') == (
        '<span class="h-card"><a href="http://a/&quot;&gt;&lt;script&gt;" '
        'class="u-url mention">@<span>x&quot;y</span></a></span>'
    )
