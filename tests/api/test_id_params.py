"""Client API ids that are not 63-bit ids: 404 for a path id, 422 for a parameter.

Mastodon ids are strings of digits; ours fit in 63 bits. A 19-digit number past 2**63 - 1
used to reach the database driver (500), and ``str.isdigit`` / ``\\d`` accepted digits
such as ``"²"`` (which ``int`` refuses) or ``"٣"`` (which it reads as 3).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.context import Services
from tests.api.conftest import bearer, post_status, snapshot
from web.ids import MAX_ID

ODD = [str(MAX_ID + 1), "9" * 19, "9" * 25, "²", "٣"]


@pytest.mark.parametrize("raw", ODD)
async def test_odd_path_ids_are_not_found(
    client: httpx.AsyncClient, make_token: Any, raw: str
) -> None:
    _, token = await make_token()
    auth = bearer(token)
    for method, path in (
        ("get", f"/api/v1/statuses/{raw}"),
        ("get", f"/api/v1/statuses/{raw}/context"),
        ("delete", f"/api/v1/statuses/{raw}"),
        ("post", f"/api/v1/statuses/{raw}/favourite"),
        ("get", f"/api/v1/accounts/{raw}"),
        ("get", f"/api/v1/accounts/{raw}/statuses"),
        ("post", f"/api/v1/accounts/{raw}/follow"),
        ("get", f"/api/v1/media/{raw}"),
        ("get", f"/api/v1/notifications/{raw}"),
    ):
        response = await getattr(client, method)(path, headers=auth)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json() == {"error": "Record not found"}


@pytest.mark.parametrize("raw", ODD)
async def test_odd_id_parameters_are_refused_before_any_change(
    client: httpx.AsyncClient, services: Services, make_token: Any, raw: str
) -> None:
    _, token = await make_token()
    auth = bearer(token)
    status = await post_status(client, token, "a first picture")
    before = await snapshot(services)
    for method, path, kwargs in (
        ("post", "/api/v1/markers", {"data": {"home[last_read_id]": raw}}),
        ("post", "/api/v1/statuses", {"data": {"status": "x", "media_ids[]": [raw]}}),
        ("get", f"/api/v1/timelines/home?max_id={raw}", {}),
        ("get", f"/api/v1/timelines/public?since_id={raw}", {}),
        (
            "put",
            f"/api/v1/statuses/{status['id']}",
            {"data": {"status": "edited", "media_attributes[][id]": raw}},
        ),
    ):
        response = await getattr(client, method)(path, headers=auth, **kwargs)
        assert response.status_code == 422, (method, path, response.text)
    assert await snapshot(services) == before
    ties = await client.get(f"/api/v1/accounts/relationships?id[]={raw}", headers=auth)
    assert ties.status_code == 200 and ties.json() == []  # unknown ids are left out
