"""No client API list makes SQLite read a whole big table (the method and rules of
``tests/test_query_plans.py``, applied to the API's timelines and lists)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

from services.api_tokens import create_script_token
from services.context import Services
from tests.api.conftest import bearer
from tests.test_query_plans import Capture, plan, problems, seed


async def test_api_lists_use_indexes(
    client: httpx.AsyncClient, services: Services, make_user: Callable[..., Any]
) -> None:
    post = (await seed(services, make_user))["bob_post"]
    token = bearer(await create_script_token(services, "alice", scopes="read write"))
    bob_id = post.actor_id
    capture = Capture()
    event.listen(services.db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        for path in (
            "/api/v1/timelines/home",
            f"/api/v1/timelines/home?max_id={post.id + 1}",
            "/api/v1/timelines/public",
            "/api/v1/timelines/public?local=true&only_media=true",
            "/api/v1/timelines/tag/sunset",
            f"/api/v1/accounts/{bob_id}/statuses",
            f"/api/v1/accounts/{bob_id}/followers",
            "/api/v1/notifications",
            "/api/v1/favourites",
            "/api/v1/bookmarks",
            f"/api/v1/statuses/{post.id}/context",
            "/api/v1/accounts/verify_credentials",
        ):
            with capture.labelled(path):
                response = await client.get(path, headers=token)
            assert response.status_code == 200, (path, response.text)
    finally:
        event.remove(services.db.engine.sync_engine, "before_cursor_execute", capture)
    db_file = Path(services.config.database.url.split(":///", 1)[1])
    found = [
        (label, line, " ".join(statement.split())[:300])
        for label, statements in capture.statements.items()
        for statement, params in statements
        for line in problems(plan(db_file, statement, params))
    ]
    # Known, as for the web home page (tests/test_query_plans.py): the home timeline walks
    # posts by primary key, newest first, and stops after one page.
    unexpected = [
        f"{label}: {line}\n    {statement}"
        for label, line, statement in found
        if not (
            label.startswith("/api/v1/timelines/home")
            and line.startswith("SCAN post USING INDEX sqlite_autoindex_post_1")
        )
    ]
    assert not unexpected, "full table scans:\n" + "\n".join(unexpected)
