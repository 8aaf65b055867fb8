"""``IN`` lists are padded to a few lengths, so a lookup has a few SQL texts, not one per
length (``storage/in_lists.py``): each text is a prepared statement the driver keeps."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import event

from services import posts as post_service
from services import social
from services.api_tokens import create_script_token
from services.context import Services
from services.posts import PostFields, Upload
from storage.in_lists import MAX_PADDED, padded, padded_length
from tests.imagegen import png_bytes

IN_LIST = re.compile(r"IN \((\?(?:, \?)*)\)")


def test_lengths_come_from_a_short_series() -> None:
    lengths = {padded_length(n) for n in range(1, 65)}
    assert lengths == {1, 2, 4, 8, 16, 32, 64}
    assert all(padded_length(n) >= n for n in range(0, 5_000))
    assert padded_length(0) == 0
    assert padded_length(300) == 512
    assert padded_length(5_000) == 5_120  # steps of 256 past 256, not doubling


def test_long_lists_stay_under_sqlites_parameter_limit() -> None:
    assert padded_length(MAX_PADDED) <= MAX_PADDED
    assert padded_length(MAX_PADDED + 1) == MAX_PADDED + 1
    assert padded_length(32_766) == 32_766


def test_padding_repeats_values_and_keeps_the_set() -> None:
    assert padded([]) == []
    assert padded([7]) == [7]
    assert padded([3, 1, 3, 2]) == [3, 1, 2, 2]
    values = list(range(100, 133))
    out = padded(iter(values))
    assert len(out) == 64 and out[:33] == values and set(out) == set(values)


async def test_a_timeline_at_forty_page_sizes_prepares_a_few_texts_per_lookup(
    client: httpx.AsyncClient, services: Services, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice", "correct horse battery")
    bob = await make_user("bob", "correct horse battery")
    await social.follow(services, alice, bob)
    image = Upload(png_bytes(16, 16, seed=5), "a.png", "alt")
    for n in range(40):
        await post_service.create_post(
            services, bob, [image], PostFields(caption=f"#sunset {n} @alice", visibility="public")
        )
    token = await create_script_token(services, "alice", scopes="read")
    seen: list[str] = []

    def capture(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    engine = services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        for limit in range(1, 41):
            response = await client.get(
                f"/api/v1/accounts/{bob.id}/statuses?limit={limit}",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 200
            assert len(response.json()) == limit
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    texts: dict[str, set[str]] = defaultdict(set)
    for statement in seen:
        texts[IN_LIST.sub("IN (…)", statement)].add(statement)
    looked_up = {shape: found for shape, found in texts.items() if "IN (…)" in shape}
    # The page's batch lookups really ran (media, mentions, tags, account figures) ...
    for table in ("media_attachment", "mention", "post_hashtag", "follow"):
        assert any(f"FROM {table}" in shape or f"JOIN {table}" in shape for shape in looked_up)
    # ... and each has at most one text per padded length of 1..40 (seven), where one
    # text per page size would be forty.
    widest = max(len(found) for found in looked_up.values())
    assert widest <= len({padded_length(n) for n in range(1, 41)}), widest
    assert widest >= 5  # the page sizes did vary the lists
