"""Turning what a person typed into safe HTML, and reading hashtags and mentions out of it.

Pure functions: the same caption always gives the same HTML, which is what we store and
what a Note's ``content`` carries. Everything typed is escaped first; only the links we
make ourselves (hashtags, URLs, mentions) become markup.

Mentions are linked only when the caller has resolved them to an actor (``mentions``
maps :func:`mention_key` to the profile URL): an ``@name@server`` nobody could find stays
plain text, as Mastodon leaves it, instead of becoming a link to a guessed address.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from html import escape
from urllib.parse import quote

HASHTAG_RE = re.compile(r"(?<![\w/&#])#(\w{1,64})", re.UNICODE)
URL_RE = re.compile(r"\bhttps?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]", re.IGNORECASE)
MENTION_RE = re.compile(
    r"(?<![=/\w@])@([A-Za-z0-9_]+(?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)"
    r"(?:@([\w.-]*\w(?::\d{1,5})?))?(?![\w@])",
    re.UNICODE,
)
"""Mastodon's mention syntax: ``@name`` (a local account) or ``@name@domain``. Not after a
word character, ``/`` or ``=`` (e-mail addresses, URL paths, query strings). A port is
accepted after the domain (``@bob@127.0.0.1:8080``) for development set-ups."""

MentionKey = tuple[str, str | None]
"""(lower-cased name, lower-cased domain or None for a bare ``@name``)."""


def extract_hashtags(text: str) -> list[str]:
    """Hashtags in order of first appearance, without '#', as typed (deduplicated by case)."""
    seen: set[str] = set()
    tags: list[str] = []
    for match in HASHTAG_RE.finditer(text):
        tag = match.group(1)
        if tag.isdigit():  # "#1" is a number, not a tag (as Mastodon)
            continue
        if tag.lower() not in seen:
            seen.add(tag.lower())
            tags.append(tag)
    return tags


def mention_key(username: str, domain: str | None) -> MentionKey:
    return username.lower(), domain.lower() if domain else None


def extract_mentions(text: str) -> list[tuple[str, str | None]]:
    """``(name, domain or None)`` of each mention, in order of first appearance, as typed
    (deduplicated regardless of case). Mentions inside URLs are not mentions."""
    urls = [(m.start(), m.end()) for m in URL_RE.finditer(text)]
    seen: set[MentionKey] = set()
    found: list[tuple[str, str | None]] = []
    for match in MENTION_RE.finditer(text):
        if any(start <= match.start() < end for start, end in urls):
            continue
        username, domain = match.group(1), match.group(2)
        key = mention_key(username, domain)
        if key not in seen:
            seen.add(key)
            found.append((username, domain))
    return found


def mention_html(username: str, href: str) -> str:
    """A mention as Mastodon renders one (an h-card around the profile link)."""
    return (
        f'<span class="h-card"><a href="{escape(href)}" class="u-url mention">'
        f"@<span>{escape(username)}</span></a></span>"
    )


def _tokens(line: str, mentions: Mapping[MentionKey, str]) -> list[tuple[int, int, str, str]]:
    tokens = [(m.start(), m.end(), "url", m.group(0)) for m in URL_RE.finditer(line)]
    tokens += [(m.start(), m.end(), "tag", m.group(1)) for m in HASHTAG_RE.finditer(line)]
    for match in MENTION_RE.finditer(line):
        href = mentions.get(mention_key(match.group(1), match.group(2)))
        if href is not None:
            tokens.append((match.start(), match.end(), "mention", match.group(1) + " " + href))
    return sorted(tokens)


def _linkify_line(line: str, tag_url: str, mentions: Mapping[MentionKey, str]) -> str:
    out: list[str] = []
    pos = 0
    for start, end, kind, value in _tokens(line, mentions):
        if start < pos:
            continue
        out.append(escape(line[pos:start]))
        if kind == "mention":
            username, _, href = value.partition(" ")
            out.append(mention_html(username, href))
        elif kind == "url":
            out.append(
                f'<a href="{escape(value)}" rel="nofollow noopener noreferrer" '
                f'target="_blank">{escape(value)}</a>'
            )
        elif value.isdigit():
            out.append(escape("#" + value))
        else:
            href = tag_url.rstrip("/") + "/" + quote(value.lower())
            out.append(
                f'<a href="{escape(href)}" class="mention hashtag" rel="tag">'
                f"#<span>{escape(value)}</span></a>"
            )
        pos = end
    out.append(escape(line[pos:]))
    return "".join(out)


def render_caption(
    text: str, *, tag_url: str, mentions: Mapping[MentionKey, str] | None = None
) -> str:
    """Caption text to HTML paragraphs; blank lines separate paragraphs.

    ``mentions`` maps :func:`mention_key` of each resolved mention to the profile URL it
    links to; a mention missing from it is left as text.
    """
    links = mentions or {}
    text = text.replace("\r\n", "\n").strip()
    if not text:
        return ""
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    rendered = []
    for para in paragraphs:
        lines = [_linkify_line(line, tag_url, links) for line in para.split("\n")]
        rendered.append("<p>" + "<br>".join(lines) + "</p>")
    return "".join(rendered)


def render_bio(text: str, *, tag_url: str) -> str:
    return render_caption(text, tag_url=tag_url)
