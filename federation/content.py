"""Turning what a person typed into safe HTML, and reading hashtags out of it.

Pure functions: the same caption always gives the same HTML, which is what we store and
what a Note's ``content`` carries. Everything typed is escaped first; only the links we
make ourselves (hashtags, URLs) become markup.
"""

from __future__ import annotations

import re
from html import escape
from urllib.parse import quote

HASHTAG_RE = re.compile(r"(?<![\w/&#])#(\w{1,64})", re.UNICODE)
URL_RE = re.compile(r"\bhttps?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]", re.IGNORECASE)


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


def _linkify_line(line: str, tag_url: str) -> str:
    out: list[str] = []
    pos = 0
    tokens = sorted(
        [(m.start(), m.end(), "url", m.group(0)) for m in URL_RE.finditer(line)]
        + [(m.start(), m.end(), "tag", m.group(1)) for m in HASHTAG_RE.finditer(line)]
    )
    for start, end, kind, value in tokens:
        if start < pos:
            continue
        out.append(escape(line[pos:start]))
        if kind == "url":
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


def render_caption(text: str, *, tag_url: str) -> str:
    """Caption text to HTML paragraphs; blank lines separate paragraphs."""
    text = text.replace("\r\n", "\n").strip()
    if not text:
        return ""
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    rendered = []
    for para in paragraphs:
        lines = [_linkify_line(line, tag_url) for line in para.split("\n")]
        rendered.append("<p>" + "<br>".join(lines) + "</p>")
    return "".join(rendered)


def render_bio(text: str, *, tag_url: str) -> str:
    return render_caption(text, tag_url=tag_url)
