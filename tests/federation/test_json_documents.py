"""Remote JSON is read by ``orjson`` with ``json`` behind it: the same documents accepted
and refused as with ``json`` alone, whatever ``orjson`` is stricter about."""

from __future__ import annotations

import json
import math

import pytest

from federation import json_documents

ACTIVITY = '{"id": "https://a.example/1", "type": "Like", "actor": "https://a.example/u", "n": 1.5}'


@pytest.mark.parametrize(
    "text",
    [
        ACTIVITY,
        '{"name": "\\ud800 alone"}',  # a lone surrogate escape: orjson refuses it
        '{"a": 1, "a": 2}',  # a repeated key: the last one counts in both
        '["not", "an", "object"]',
    ],
)
def test_documents_read_as_json_reads_them(text: str) -> None:
    assert json_documents.loads(text) == json.loads(text)
    assert json_documents.loads(text.encode("utf-8", "surrogatepass")) == json.loads(
        text.encode("utf-8", "surrogatepass")
    )


def test_non_finite_numbers_are_read_as_json_reads_them() -> None:
    assert math.isnan(json_documents.loads('{"x": NaN}')["x"])
    assert json_documents.loads('{"x": -Infinity}')["x"] == -math.inf


def test_an_integer_beyond_64_bits_is_read_as_a_float() -> None:
    """The one difference from ``json`` (documented in the module)."""
    assert json_documents.loads('{"n": 123456789012345678901234567890}')["n"] == pytest.approx(
        1.2345678901234568e29
    )
    assert json_documents.loads('{"n": 9223372036854775807}')["n"] == 9223372036854775807


@pytest.mark.parametrize("text", ["", "{", '{"a": }', "{'single': 1}", "\ufeff{}"])
def test_what_json_refuses_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        json_documents.loads(text)


def test_a_document_nested_too_deeply_is_refused_as_bad_json() -> None:
    deep = "[" * 5000 + "]" * 5000
    with pytest.raises(ValueError, match="nested too deeply"):
        json_documents.loads(deep)
