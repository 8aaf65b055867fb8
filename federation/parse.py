"""Tolerant, pure parsing of incoming ActivityPub documents.

Real servers disagree on almost every detail the specification leaves open: a single
object where a list is allowed (``to``, ``tag``, ``attachment``), an id string where an
object is allowed (``actor``, ``object``, ``attributedTo``), a Link object or a list of
them where a URL is expected, alt text in ``name`` (Mastodon < 4.x, Pixelfed) or in
``summary`` (what Mastodon reads first today), documents without ``@context``, and
``sensitive`` missing while a content warning is present. Everything here reads those
shapes into plain dataclasses, so the effectful handlers never see raw JSON quirks.
The small shape helpers live in ``federation.parse_parts`` and are re-exported here.

Nothing here touches the network, the database or the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any

from federation.parse_parts import (
    ParsedAttachment,
    ParsedTags,
    as_list,
    first,
    id_of,
    ids_of,
    origin,
    parse_attachment,
    parse_datetime,
    parse_tags,
    pick_url,
    plain_text,
    same_origin,
    sanitize_html,
    text_of,
    type_of,
)
from federation.vocab import PUBLIC

__all__ = [
    "NOTE_TYPES",
    "PUBLIC_ADDRESSES",
    "ParsedActivity",
    "ParsedAttachment",
    "ParsedNote",
    "ParsedTags",
    "as_list",
    "first",
    "id_of",
    "ids_of",
    "origin",
    "parse_activity",
    "parse_attachment",
    "parse_datetime",
    "parse_note",
    "parse_tags",
    "plain_text",
    "same_origin",
    "sanitize_html",
    "text_of",
    "type_of",
    "visibility_of",
]

PUBLIC_ADDRESSES = frozenset(
    {PUBLIC, "as:Public", "Public", "http://www.w3.org/ns/activitystreams#Public"}
)
"""Spellings of the Public collection seen in the wild (compacted, bare, and http)."""

NOTE_TYPES = frozenset({"Note", "Question", "Article", "Page"})
"""Object types stored as posts. Articles and Pages keep their title as a first line."""

MAX_CW = 1_000
MAX_ATTACHMENTS = 20


# --- notes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedNote:
    id: str
    type: str
    attributed_to: str | None
    content_html: str  # sanitised
    summary: str  # the content warning, "" when none
    sensitive: bool
    in_reply_to: str | None
    url: str | None
    published: datetime | None
    updated: datetime | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    attachments: tuple[ParsedAttachment, ...]
    hashtags: tuple[str, ...]
    mentions: tuple[str, ...]
    language: str | None
    prompt: str = ""
    model_name: str = ""


def _raw_content(obj: dict[str, Any]) -> tuple[str, str | None]:
    """(HTML content, language) from ``content`` or, failing that, ``contentMap``."""
    content_map = obj.get("contentMap") if isinstance(obj.get("contentMap"), dict) else {}
    language = next((k for k, v in content_map.items() if isinstance(v, str)), None)
    content = obj.get("content")
    if isinstance(content, str):
        return content, language
    if language is not None:
        return content_map[language], language
    return "", None


def _question_options(obj: dict[str, Any]) -> str:
    names = [
        text_of(o.get("name"))
        for o in as_list(obj.get("oneOf")) + as_list(obj.get("anyOf"))
        if isinstance(o, dict)
    ]
    names = [n for n in names if n]
    if not names:
        return ""
    return "<ul>" + "".join(f"<li>{escape(n)}</li>" for n in names) + "</ul>"


def _link_of(obj: dict[str, Any], note_id: str) -> str | None:
    """The note's page URL, kept only when it lives on the note's own origin.

    Posts are also found by this URL (an Announce may name it instead of the id), so a
    ``url`` pointing at another server's post would let one server shadow another's posts:
    their real Create taken for a duplicate, replies and boosts attached to the impostor.
    """
    url, _mime = pick_url(obj.get("url"))
    return url if url and same_origin(url, note_id) else None


def parse_note(obj: dict[str, Any]) -> ParsedNote | None:
    """A Note (or Question, Article, Page, read as a Note); None when it has no id."""
    note_id = id_of(obj.get("id"))
    kind = type_of(obj)
    if not note_id or kind not in NOTE_TYPES:
        return None
    content, language = _raw_content(obj)
    if kind in ("Article", "Page"):
        title = text_of(obj.get("name")).strip()
        if title:
            content = f"<p><strong>{escape(title)}</strong></p>{content}"
    if kind == "Question":
        content += _question_options(obj)
    summary = text_of(obj.get("summary")).strip()[:MAX_CW]
    sensitive_raw = obj.get("sensitive")
    sensitive = (sensitive_raw is True or sensitive_raw == "true") or bool(summary)
    attachments = [parse_attachment(a) for a in as_list(obj.get("attachment"))]
    tags = parse_tags(obj.get("tag"))
    prompt = obj.get("tessera:prompt")
    model = obj.get("tessera:model")
    return ParsedNote(
        id=note_id,
        type=kind,
        attributed_to=id_of(first(obj.get("attributedTo"))),
        content_html=sanitize_html(content),
        summary=summary,
        sensitive=sensitive,
        in_reply_to=id_of(obj.get("inReplyTo")),
        url=_link_of(obj, note_id),
        published=parse_datetime(obj.get("published")),
        updated=parse_datetime(obj.get("updated")),
        to=tuple(ids_of(obj.get("to"))),
        cc=tuple(ids_of(obj.get("cc"))),
        attachments=tuple(a for a in attachments if a is not None)[:MAX_ATTACHMENTS],
        hashtags=tags.hashtags,
        mentions=tags.mentions,
        language=language[:16] if language else None,
        prompt=prompt[:5000] if isinstance(prompt, str) else "",
        model_name=model[:255] if isinstance(model, str) else "",
    )


def visibility_of(to: Any, cc: Any, followers_url: str | None = None) -> str:
    """Mastodon's reading of addressing: Public in ``to`` → public, in ``cc`` → unlisted,
    the author's followers collection → followers, anything else → direct."""
    to_ids, cc_ids = set(ids_of(to)), set(ids_of(cc))
    if to_ids & PUBLIC_ADDRESSES:
        return "public"
    if cc_ids & PUBLIC_ADDRESSES:
        return "unlisted"
    everyone = to_ids | cc_ids
    if followers_url and followers_url in everyone:
        return "followers"
    if followers_url is None and any(a.rstrip("/").endswith("/followers") for a in everyone):
        return "followers"
    return "direct"


# --- activities -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedActivity:
    """What a handler needs from any activity (or a bare object, read as its own Create)."""

    id: str | None
    type: str
    actor: str | None
    object: Any  # the raw ``object`` value: an id, an embedded object, or a list
    object_id: str | None
    object_type: str  # "" when the object is only an id
    object_ids: tuple[str, ...]
    to: tuple[str, ...]
    cc: tuple[str, ...]
    content: str  # plain ``content`` of the activity itself (Flag comments)
    note: ParsedNote | None = None  # set when the object (or the document) is a note
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def parse_activity(doc: dict[str, Any]) -> ParsedActivity:
    """Read an activity; ``@context`` is optional and ignored (nobody expands JSON-LD).

    A bare Note-like document (servers and docs show them) is read with its author as the
    actor and itself as the object, so the same assertions apply to both shapes.
    """
    kind = type_of(doc)
    if kind in NOTE_TYPES:
        note = parse_note(doc)
        return ParsedActivity(
            id=id_of(doc.get("id")),
            type=kind,
            actor=id_of(first(doc.get("attributedTo"))),
            object=doc,
            object_id=id_of(doc.get("id")),
            object_type=kind,
            object_ids=tuple(ids_of(doc.get("id"))),
            to=tuple(ids_of(doc.get("to"))),
            cc=tuple(ids_of(doc.get("cc"))),
            content="",
            note=note,
            raw=doc,
        )
    obj = doc.get("object")
    single = obj[0] if isinstance(obj, list) and len(obj) == 1 else obj
    embedded = single if isinstance(single, dict) else None
    content = doc.get("content")
    return ParsedActivity(
        id=id_of(doc.get("id")),
        type=kind,
        actor=id_of(first(doc.get("actor"))),
        object=single,
        object_id=id_of(first(obj)),
        object_type=type_of(embedded),
        object_ids=tuple(ids_of(obj)),
        to=tuple(ids_of(doc.get("to"))),
        cc=tuple(ids_of(doc.get("cc"))),
        content=content if isinstance(content, str) else text_of(doc.get("contentMap")),
        note=parse_note(embedded) if embedded is not None else None,
        raw=doc,
    )
