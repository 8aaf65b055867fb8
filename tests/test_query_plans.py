"""No request path makes SQLite read a whole big table.

The pages are fast at 100,000 posts only while every query they issue is an index search:
a ``SCAN post`` costs nothing on a test database and everything on a real one, so timing
cannot catch it and this test reads the plans instead. Each page is requested through the
real app (the statements are captured as the app sends them, with their parameters), then
SQLite is asked ``EXPLAIN QUERY PLAN`` for every statement, on the same file. The plans do
not depend on the row counts here (the app never runs ``ANALYZE``), so a small database
seeded through the real services gives the plans a large one gets.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

from services import posts as post_service
from services import social
from services.api_tokens import create_script_token
from services.context import Services
from services.posts import PostFields, Upload
from storage import posts as q
from tests.conftest import sign_in
from tests.imagegen import png_bytes

BIG_TABLES = ("post", "media_attachment", "follow", "notification")
FULL_SCAN = re.compile(rf"^SCAN ({'|'.join(BIG_TABLES)})\b")
# An index search on nothing but low-cardinality columns (visibility, local, state, read)
# reads most of the table; followed by a sort it cannot stop after one page either.
LOW_CARDINALITY = r"(visibility|local|state|read)=\?"
UNSELECTIVE = re.compile(
    rf"^SEARCH ({'|'.join(BIG_TABLES)}) USING (COVERING )?INDEX \S+ "
    rf"\({LOW_CARDINALITY}( AND {LOW_CARDINALITY})*\)$"
)
SORT = "USE TEMP B-TREE FOR ORDER BY"
HOME = "home (signed in)"
API_HOME = "API home timeline"
API_PUBLIC = "API public timeline"
KNOWN_SCANS = (HOME, API_HOME, API_PUBLIC)
# ``in_reply_to_id IS NULL`` shows as ``(in_reply_to_id=?)``: true of nearly every post.
NOT_REPLY = re.compile(r"in_reply_to_id IS NULL", re.IGNORECASE)
NOT_REPLY_SEARCH = re.compile(r"^SEARCH post USING (COVERING )?INDEX \S+ \(in_reply_to_id=\?\)$")


class Capture:
    """The SELECT statements the app sends while a label is set, with their parameters."""

    def __init__(self) -> None:
        self.label: str | None = None
        self.statements: dict[str, list[tuple[str, Any]]] = {}

    def __call__(self, _conn: Any, _cursor: Any, statement: str, params: Any, *_rest: Any) -> None:
        if self.label and statement.lstrip().upper().startswith("SELECT"):
            self.statements.setdefault(self.label, []).append((statement, params))

    @contextmanager
    def labelled(self, label: str) -> Iterator[None]:
        self.label = label
        try:
            yield
        finally:
            self.label = None


def plan(db_file: Path, statement: str, params: Any) -> list[str]:
    with sqlite3.connect(db_file) as conn:
        rows = conn.execute(f"EXPLAIN QUERY PLAN {statement}", tuple(params or ())).fetchall()
    return [row[3] for row in rows]


async def seed(services: Services, make_user: Callable[..., Any]) -> dict[str, Any]:
    """Three accounts, follows both ways, posts with images and a tag, a notification."""
    alice = await make_user("alice", "correct horse battery")
    bob = await make_user("bob", "correct horse battery")
    carol = await make_user("carol", "correct horse battery")
    await social.follow(services, alice, bob)
    await social.follow(services, bob, alice)
    await social.follow(services, carol, bob)
    image = Upload(png_bytes(48, 32, seed=3), "a.png", "alt")
    posts = []
    for author, caption, visibility in (
        (bob, "first #sunset", "public"),
        (bob, "second", "followers"),
        (alice, "mine #sunset", "public"),
        (carol, "hers", "unlisted"),
    ):
        post = await post_service.create_post(
            services, author, [image], PostFields(caption=caption, visibility=visibility)
        )
        posts.append(post)
    await post_service.set_like(services, bob, posts[2].id, True)  # notifies alice
    return {"bob_post": posts[0]}


def problems(details: list[str], statement: str = "") -> list[str]:
    """The lines of one plan that read (most of) a big table."""
    sorted_after = SORT in details
    not_reply = bool(NOT_REPLY.search(statement))
    return [
        d
        for d in details
        if FULL_SCAN.match(d)
        or (sorted_after and UNSELECTIVE.match(d))
        or (sorted_after and not_reply and NOT_REPLY_SEARCH.match(d))
    ]


async def plans_by_path(
    client: httpx.AsyncClient, services: Services, make_user: Callable[..., Any]
) -> dict[str, list[tuple[str, list[str]]]]:
    """Request every path and return, per path, each SELECT it sent with its plan."""
    post = (await seed(services, make_user))["bob_post"]
    capture = Capture()
    event.listen(services.db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        for label, path in (
            ("gallery", "/"),
            ("gallery page 2", f"/?max_id={post.id}"),
            ("profile", "/@bob"),
            ("tag", "/tags/sunset"),
            ("tag page 2", f"/tags/sunset?max_id={post.id + 1}"),
            ("post page", f"/@bob/{post.id}"),
        ):
            with capture.labelled(label):
                response = await client.get(path)
            assert response.status_code == 200, (path, response.status_code)
        assert (await sign_in(client, "alice", "correct horse battery")).status_code == 303
        for label, path in ((HOME, "/home"), ("profile (signed in)", "/@bob")):
            with capture.labelled(label):
                response = await client.get(path)
            assert response.status_code == 200, (path, response.status_code)
        token = await create_script_token(services, "alice", scopes="read")
        bearer = {"Authorization": f"Bearer {token}"}
        for label, path in (
            (API_HOME, "/api/v1/timelines/home?limit=40"),
            (API_PUBLIC, "/api/v1/timelines/public?local=true"),
            ("API hashtag timeline", "/api/v1/timelines/tag/sunset"),
        ):
            with capture.labelled(label):
                response = await client.get(path, headers=bearer)
            assert response.status_code == 200, (path, response.status_code)
            assert response.json(), path
        async with services.db.session() as session:
            media = (await q.attachments_for(session, [post.id]))[post.id]
            with capture.labelled("blob reference check"):
                assert await q.blob_is_referenced(session, media[0].thumb_key or "")
    finally:
        event.remove(services.db.engine.sync_engine, "before_cursor_execute", capture)
    db_file = Path(services.config.database.url.split(":///", 1)[1])
    return {
        label: [(s, plan(db_file, s, p)) for s, p in statements]
        for label, statements in capture.statements.items()
    }


def report(found: dict[str, list[tuple[str, list[str]]]]) -> list[str]:
    return [
        f"{label}: {line}\n    {' '.join(statement.split())[:300]}"
        for label, plans in found.items()
        for statement, details in plans
        for line in problems(details, statement)
    ]


async def test_request_paths_search_indexes_instead_of_scanning(
    client: httpx.AsyncClient, services: Services, make_user: Callable[..., Any]
) -> None:
    found = await plans_by_path(client, services, make_user)
    touched = {
        table
        for plans in found.values()
        for _statement, details in plans
        for line in details
        for table in BIG_TABLES
        if re.search(rf"\b{table}\b", line)
    }
    # The capture really saw the paths: each big table was read by some request.
    assert set(BIG_TABLES) <= touched, touched
    assert {
        "gallery",
        "profile",
        "tag",
        "post page",
        HOME,
        API_HOME,
        "blob reference check",
    } <= set(found)
    for label in KNOWN_SCANS:
        found.pop(label)
    scans = report(found)
    assert not scans, "full table scans:\n" + "\n".join(scans)


async def test_home_timelines_search_instead_of_scanning(
    client: httpx.AsyncClient, services: Services, make_user: Callable[..., Any]
) -> None:
    found = await plans_by_path(client, services, make_user)
    assert found[HOME] and found[API_HOME], "a home timeline sent no query"
    # The feed's walk itself was seen, whichever way it ran (``storage.plain_select``).
    for label in (HOME, API_HOME):
        assert any("FROM home_feed_entry" in s for s, _ in found[label]), label
    scans = report({label: found[label] for label in (HOME, API_HOME)})
    assert not scans, "full table scans:\n" + "\n".join(scans)


async def test_api_public_timeline_searches_instead_of_scanning(
    client: httpx.AsyncClient, services: Services, make_user: Callable[..., Any]
) -> None:
    found = await plans_by_path(client, services, make_user)
    assert found[API_PUBLIC], "the public timeline sent no query"
    scans = report({API_PUBLIC: found[API_PUBLIC]})
    assert not scans, "full table scans:\n" + "\n".join(scans)


async def test_hashtag_timelines_walk_the_tag_in_page_order(
    client: httpx.AsyncClient, services: Services, make_user: Callable[..., Any]
) -> None:
    """A page of a hashtag walks ``post_hashtag`` newest first and stops: no list of the
    tag's every post built first (``post.id IN (SELECT ...)``: a LIST SUBQUERY, 8 ms a
    page at 50,000 tagged posts) and no sort of them."""
    found = await plans_by_path(client, services, make_user)
    for label in ("tag", "API hashtag timeline"):
        pages = [
            details
            for statement, details in found[label]
            if "post_hashtag" in statement and "content_html" in statement
        ]
        assert pages, f"{label}: no page query seen"
        for details in pages:
            bad = [line for line in details if "LIST SUBQUERY" in line or "TEMP B-TREE" in line]
            assert not bad, (label, details)
