"""Shared bits of the ActivityPub document tests: Accept headers, publishing, validation."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema

from tests.imagegen import png_bytes
from tests.web.helpers import publish

AP = "application/activity+json"
LD_AS = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
BASE = "http://gallery.test"


async def publish_post(
    client: httpx.AsyncClient, count: int = 1, *, seed: int = 0, **fields: Any
) -> int:
    """Publish ``count`` small images through the web form; returns the new post's id."""
    images = [(f"i{i}.png", png_bytes(64 + i * 8, 48, seed=seed + i)) for i in range(count)]
    response = await publish(client, images, **fields)
    assert response.status_code == 303, response.text[:500]
    return int(response.headers["location"].rsplit("/", 1)[1])


async def get_ap(client: httpx.AsyncClient, path: str, accept: str = AP) -> httpx.Response:
    return await client.get(path, headers={"accept": accept})


def validate_nodeinfo(document: Any, schema: dict[str, Any]) -> None:
    """Validate with the validator the schema itself names ($schema: draft-04), formats on."""
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    validator_cls(schema, format_checker=validator_cls.FORMAT_CHECKER).validate(document)
