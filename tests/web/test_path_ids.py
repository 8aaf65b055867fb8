"""Ids in paths, cursors and form fields: anything that is not a 63-bit id is "not found"
or "bad request", never a server error.

Row ids fit in 63 bits; a longer number used to reach the database driver and fail there
(500), and ``str.isdigit`` let through digits ``int`` cannot read (``"²"``).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import csrf_from, sign_in
from tests.imagegen import png_bytes
from tests.web.helpers import publish
from web.ids import MAX_ID, parse_id

TOO_BIG = [str(MAX_ID + 1), "9" * 19, "9" * 25]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0", 0),
        ("42", 42),
        (str(MAX_ID), MAX_ID),
        (str(MAX_ID + 1), None),
        ("9" * 19, None),
        ("1" * 20, None),
        ("²", None),
        ("٣", None),
        ("-1", None),
        ("", None),
        (" 1", None),
    ],
)
def test_parse_id(raw: str, expected: int | None) -> None:
    assert parse_id(raw) == expected


@pytest.mark.parametrize("big", TOO_BIG)
async def test_oversized_ids_in_paths_are_not_found(
    client: httpx.AsyncClient, alice: Any, big: str
) -> None:
    for path in (f"/@alice/{big}", f"/users/alice/statuses/{big}", f"/@alice/{big}/edit"):
        assert (await client.get(path)).status_code == 404, path
    token = await csrf_from(client, "/compose")
    for path in (
        f"/posts/{big}/like",
        f"/posts/{big}/boost",
        f"/posts/{big}/reply",
        f"/@alice/{big}/delete",
        f"/follow_requests/{big}/approve",
        f"/settings/apps/{big}/revoke",
        f"/admin/signups/{big}",
        f"/admin/invites/{big}/revoke",
    ):
        response = await client.post(path, data={"csrf_token": token, "caption": "x"})
        assert response.status_code == 404, path


async def test_the_largest_id_is_an_ordinary_unknown_post(
    client: httpx.AsyncClient, alice: Any
) -> None:
    assert (await client.get(f"/@alice/{MAX_ID}")).status_code == 404
    assert (await client.get(f"/users/alice/statuses/{MAX_ID}")).status_code == 404


@pytest.mark.parametrize("cursor", ["%C2%B2", "%D9%A3", "9" * 19, "-5"])
async def test_bad_cursors_are_bad_requests(
    client: httpx.AsyncClient, alice: Any, cursor: str
) -> None:
    for path in ("/", "/home", "/tags/sunset", "/@alice", "/users/alice/outbox?page=true&"):
        joiner = "" if path.endswith("&") else "?"
        response = await client.get(f"{path}{joiner}max_id={cursor}")
        assert response.status_code == 400, path


async def test_odd_numbers_in_forms_are_refused_or_ignored(
    client: httpx.AsyncClient, make_user: Any
) -> None:
    await make_user("boss", "boss password", is_admin=True)
    assert (await sign_in(client, "boss", "boss password")).status_code == 303
    token = await csrf_from(client, "/admin")
    refused = await client.post(
        "/admin/invites", data={"csrf_token": token, "max_uses": "²", "expires": "1d"}
    )
    assert refused.status_code == 422 and "whole number" in refused.text

    published = await publish(client, [("a.png", png_bytes(seed=4))], alts=["first alt"])
    assert published.status_code == 303
    page = published.headers["location"]
    edited = await client.post(
        f"{page}/edit",
        data={"csrf_token": token, "caption": "edited", "alt_²": "x", f"alt_{'9' * 25}": "y"},
    )
    assert edited.status_code == 303
    assert "edited" in (await client.get(page)).text
