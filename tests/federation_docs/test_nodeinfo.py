"""NodeInfo: our documents and real ones from other servers, through the same validator."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from federation.nodeinfo import Software, Usage, nodeinfo_document
from tests.conformance import load_json
from tests.federation_docs.helpers import BASE, publish_post, validate_nodeinfo

SCHEMAS = {v: f"nodeinfo/nodeinfo-{v}-schema.json" for v in ("2.0", "2.1")}


def schema(version: str) -> dict[str, Any]:
    return load_json(SCHEMAS[version])  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("document", "version"),
    [
        ("nodeinfo/nodeinfo-2.0-example.json", "2.0"),
        ("nodeinfo/mastodon-social-nodeinfo-2.0.json", "2.0"),
        ("nodeinfo/pixelfed-nodeinfo-2.0.json", "2.0"),
        ("nodeinfo/nodeinfo-2.1-example.json", "2.1"),
    ],
)
def test_real_documents_validate(document: str, version: str) -> None:
    validate_nodeinfo(load_json(document), schema(version))


def test_the_validator_refuses_a_broken_document() -> None:
    broken = load_json("nodeinfo/nodeinfo-2.0-example.json")
    broken["openRegistrations"] = "yes"
    with pytest.raises(jsonschema.ValidationError):
        validate_nodeinfo(broken, schema("2.0"))
    # 2.1's software fields are not allowed in 2.0
    extra = load_json("nodeinfo/nodeinfo-2.1-example.json")
    extra["version"] = "2.0"
    with pytest.raises(jsonschema.ValidationError):
        validate_nodeinfo(extra, schema("2.0"))


def test_pure_documents_with_project_urls_validate() -> None:
    usage = Usage(total_users=3, active_month=2, active_halfyear=3, local_posts=10)
    software = Software("1.2.3", repository="https://example.org/r", homepage="https://e.org")
    for version in ("2.0", "2.1"):
        doc = nodeinfo_document(
            version,
            software=software,
            usage=usage,
            registrations="open",
            node_name="N",
            node_description="D",
        )
        validate_nodeinfo(doc, schema(version))
        assert ("repository" in doc["software"]) is (version == "2.1")


async def test_index_links_both_versions(client) -> None:
    response = await client.get("/.well-known/nodeinfo")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.json() == {
        "links": [
            {
                "rel": "http://nodeinfo.diaspora.software/ns/schema/2.0",
                "href": f"{BASE}/nodeinfo/2.0",
            },
            {
                "rel": "http://nodeinfo.diaspora.software/ns/schema/2.1",
                "href": f"{BASE}/nodeinfo/2.1",
            },
        ]
    }


@pytest.mark.parametrize("version", ["2.0", "2.1"])
async def test_served_documents_validate_and_count(client, alice, version: str) -> None:
    await publish_post(client)
    await publish_post(client, seed=5)
    response = await client.get(f"/nodeinfo/{version}")
    assert response.status_code == 200
    assert response.headers["content-type"] == (
        f'application/json; profile="http://nodeinfo.diaspora.software/ns/schema/{version}#"'
    )
    doc = response.json()
    validate_nodeinfo(doc, schema(version))
    assert doc["version"] == version
    assert doc["software"]["name"] == "tessera"
    assert doc["protocols"] == ["activitypub"]
    assert doc["services"] == {"inbound": [], "outbound": []}
    assert doc["openRegistrations"] is True
    assert doc["usage"] == {
        "users": {"total": 1, "activeMonth": 1, "activeHalfyear": 1},
        "localPosts": 2,
    }
    assert doc["metadata"]["nodeName"] == "Tessera"
    assert "nodeDescription" in doc["metadata"]


@pytest.mark.parametrize("config_overrides", [{"instance": {"registrations": "approval"}}])
async def test_approval_is_not_open(client) -> None:
    doc = (await client.get("/nodeinfo/2.0")).json()
    assert doc["openRegistrations"] is False
    assert doc["usage"]["users"]["total"] == 0
