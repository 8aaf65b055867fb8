"""A WebFinger ``resource`` that is not even a URL is a 400 with a reason, not a 500.

``urlsplit`` raises on some inputs that still start with ``http://`` - an unclosed IPv6
literal (``http://[``) above all - and WebFinger is open to anyone on the internet.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from federation.discovery import BadResource, local_username_from_resource
from federation.urls import Urls

MALFORMED = ["http://[", "https://[::1/users/alice", "http://gallery.test]/@alice", "HTTP://[x"]


@pytest.mark.parametrize("resource", MALFORMED)
async def test_unparseable_urls_are_bad_requests(
    client: httpx.AsyncClient, alice: Any, resource: str
) -> None:
    response = await client.get("/.well-known/webfinger", params={"resource": resource})
    assert response.status_code == 400
    assert response.json() == {"error": "resource is not a valid URL"}


async def test_well_formed_urls_still_resolve(client: httpx.AsyncClient, alice: Any) -> None:
    """The control: the same endpoint still answers for real actor and profile URLs."""
    for resource in ("http://gallery.test/users/alice", "http://gallery.test/@alice"):
        response = await client.get("/.well-known/webfinger", params={"resource": resource})
        assert response.status_code == 200
        assert response.json()["subject"] == "acct:alice@gallery.test"


@pytest.mark.parametrize("resource", MALFORMED)
def test_the_parser_raises_bad_resource(resource: str) -> None:
    urls = Urls("http://gallery.test")
    with pytest.raises(BadResource):
        local_username_from_resource(resource, domain="gallery.test", urls=urls)
