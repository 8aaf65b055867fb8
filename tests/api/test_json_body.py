"""The client API's JSON writer: orjson's bytes are json's bytes, and what orjson
refuses still gets written."""

from __future__ import annotations

import json

import orjson

from web.api.auth import json_body


def test_same_bytes_as_compact_json_dumps() -> None:
    data = {
        "display_name": "Zoë 🎨 画家",
        "note": '<p>"quoted" & <b>bold</b>\n\ttab</p>',
        "counts": [0, -1, 2**62],
        "ratio": 1.5,
        "flags": [True, False, None],
        "nested": {"empty": [], "obj": {}},
    }
    assert json_body(data) == json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def test_integers_past_64_bits_fall_back_to_json() -> None:
    data = {"id": 2**70}
    assert json.loads(json_body(data)) == data


def test_statuses_already_json_are_embedded_by_both_writers() -> None:
    """Timelines embed cached statuses as JSON (``orjson.Fragment``); the fallback for
    what orjson refuses must write them too, as the same members."""
    status = {"id": "1", "content": "<p>Zoë</p>", "favourited": False}
    fragment = orjson.Fragment(orjson.dumps(status))
    assert json.loads(json_body([fragment])) == [status]
    assert json.loads(json_body({"big": 2**70, "items": [fragment]})) == {
        "big": 2**70,
        "items": [status],
    }
